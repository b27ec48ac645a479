# The rules repository: immutable versions plus a `current` pointer updated
# with generation preconditions. Versioning keeps every generation of the
# pointer, so a lost or wrong publish is recoverable outside the API too.
resource "google_storage_bucket" "rules" {
  project                     = var.project
  name                        = "${var.bucket_prefix}-${local.names.buckets.rules}"
  location                    = var.location
  storage_class               = "STANDARD"
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  force_destroy               = var.force_destroy
  labels                      = var.labels

  versioning {
    enabled = true
  }

  lifecycle_rule {
    condition {
      with_state         = "ARCHIVED"
      num_newer_versions = var.rules_noncurrent_versions
      matches_prefix     = [local.names.rules_objects.current]
    }
    action {
      type = "Delete"
    }
  }

  # Versions and history are small and read rarely once old.
  lifecycle_rule {
    condition {
      age                   = 365
      matches_storage_class = ["STANDARD"]
      matches_prefix        = [local.names.rules_objects.versions_prefix, local.names.rules_objects.history_prefix]
    }
    action {
      type          = "SetStorageClass"
      storage_class = "NEARLINE"
    }
  }
}
