locals {
  artifact_prefixes = {
    flex    = "flex/"
    staging = "staging/"
    temp    = "temp/"
  }
}

# Flex-template specs, Dataflow staging (worker binary) and temp files.
resource "google_storage_bucket" "artifacts" {
  project                     = var.project
  name                        = "${var.bucket_prefix}-${local.names.buckets.artifacts}"
  location                    = var.location
  storage_class               = "STANDARD"
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  force_destroy               = var.force_destroy
  labels                      = var.labels

  lifecycle_rule {
    condition {
      age            = 7
      matches_prefix = [local.artifact_prefixes.temp]
    }
    action {
      type = "Delete"
    }
  }

  lifecycle_rule {
    condition {
      age            = 90
      matches_prefix = [local.artifact_prefixes.staging]
    }
    action {
      type = "Delete"
    }
  }
}
