locals {
  table_protection = var.deletion_protection ? "PROTECTED" : "UNPROTECTED"
}

# Row key = user id (see DESIGN.md). traits: one column per trait; stats: the
# JSON of rules.Stats written by the stats pipeline.
resource "google_bigtable_table" "users" {
  project             = var.project
  instance_name       = google_bigtable_instance.main.name
  name                = local.names.tables.users
  deletion_protection = local.table_protection

  column_family {
    family = local.names.families.traits
  }
  column_family {
    family = local.names.families.stats
  }
}

# Row key = user id. seg: one column per current segment; meta: updated_at,
# version and the full merge state for hydration.
resource "google_bigtable_table" "profiles" {
  project             = var.project
  instance_name       = google_bigtable_instance.main.name
  name                = local.names.tables.profiles
  deletion_protection = local.table_protection

  column_family {
    family = local.names.families.seg
  }
  column_family {
    family = local.names.families.meta
  }
}
