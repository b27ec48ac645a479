# The standby collector's failover store lives in the standby region, so the
# collection path keeps working when the primary region (and its buckets) is
# down. Reconcile reads it next to gs://LAKE/failover/.
resource "google_storage_bucket" "failover" {
  project                     = var.project
  name                        = "${var.bucket_prefix}-${local.names.buckets.failover}"
  location                    = var.standby_region
  storage_class               = "STANDARD"
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  force_destroy               = var.force_destroy
  labels                      = var.labels

  lifecycle_rule {
    condition {
      age            = var.failover_retention_days
      matches_prefix = [local.names.lake_prefixes.failover]
    }
    action {
      type = "Delete"
    }
  }
}
