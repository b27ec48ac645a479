# GC policies: the values live in names.json (gc.*) so the local emulator
# provisioning and production agree.

# Traits from identify calls expire after a year without a refresh.
resource "google_bigtable_gc_policy" "traits" {
  project         = var.project
  instance_name   = google_bigtable_instance.main.name
  table           = google_bigtable_table.users.name
  column_family   = local.names.families.traits
  deletion_policy = "ABANDON"

  max_age {
    duration = "${local.names.gc.traits_max_age_hours}h"
  }
}

resource "google_bigtable_gc_policy" "stats" {
  project         = var.project
  instance_name   = google_bigtable_instance.main.name
  table           = google_bigtable_table.users.name
  column_family   = local.names.families.stats
  deletion_policy = "ABANDON"

  max_version {
    number = local.names.gc.stats_max_versions
  }
}

resource "google_bigtable_gc_policy" "seg" {
  project         = var.project
  instance_name   = google_bigtable_instance.main.name
  table           = google_bigtable_table.profiles.name
  column_family   = local.names.families.seg
  deletion_policy = "ABANDON"

  max_version {
    number = local.names.gc.seg_max_versions
  }
}

resource "google_bigtable_gc_policy" "meta" {
  project         = var.project
  instance_name   = google_bigtable_instance.main.name
  table           = google_bigtable_table.profiles.name
  column_family   = local.names.families.meta
  deletion_policy = "ABANDON"

  max_version {
    number = local.names.gc.meta_max_versions
  }
}
