locals {
  lake_prefixes = local.names.lake_prefixes
}

# The data lake: raw NDJSON, failover, reconciled Parquet, bad rows, vendor
# pulls and partner dead letters. Lifecycle moves data to colder classes as it
# ages; reads of old data are rare (replay, audits) and pay retrieval fees.
resource "google_storage_bucket" "lake" {
  project                     = var.project
  name                        = "${var.bucket_prefix}-${local.names.buckets.lake}"
  location                    = var.location
  storage_class               = "STANDARD"
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  force_destroy               = var.force_destroy
  labels                      = var.labels

  soft_delete_policy {
    retention_duration_seconds = 604800
  }

  lifecycle_rule {
    condition {
      age                   = var.lake_nearline_days
      matches_storage_class = ["STANDARD"]
      matches_prefix        = [local.lake_prefixes.raw, local.lake_prefixes.failover, local.lake_prefixes.vendor, local.lake_prefixes.events]
    }
    action {
      type          = "SetStorageClass"
      storage_class = "NEARLINE"
    }
  }

  lifecycle_rule {
    condition {
      age                   = var.lake_coldline_days
      matches_storage_class = ["NEARLINE"]
      matches_prefix        = [local.lake_prefixes.raw, local.lake_prefixes.failover, local.lake_prefixes.vendor, local.lake_prefixes.events]
    }
    action {
      type          = "SetStorageClass"
      storage_class = "COLDLINE"
    }
  }

  # Reconciled Parquet stays in COLDLINE (replays read it); the raw copy and
  # vendor pulls are only for disaster recovery after a year.
  lifecycle_rule {
    condition {
      age                   = var.lake_archive_days
      matches_storage_class = ["COLDLINE"]
      matches_prefix        = [local.lake_prefixes.raw, local.lake_prefixes.failover, local.lake_prefixes.vendor]
    }
    action {
      type          = "SetStorageClass"
      storage_class = "ARCHIVE"
    }
  }

  lifecycle_rule {
    condition {
      age            = var.badrows_retention_days
      matches_prefix = [local.lake_prefixes.badrows]
    }
    action {
      type = "Delete"
    }
  }

  # Partner dead letters wait for a redrive; after the redrive window they are
  # only evidence.
  lifecycle_rule {
    condition {
      age                   = var.lake_nearline_days
      matches_storage_class = ["STANDARD"]
      matches_prefix        = [local.lake_prefixes.deadletter]
    }
    action {
      type          = "SetStorageClass"
      storage_class = "NEARLINE"
    }
  }

  lifecycle_rule {
    condition {
      age = 1
    }
    action {
      type = "AbortIncompleteMultipartUpload"
    }
  }
}
