# One service per partner: its own instances, backlog and retry budget.
# activate pulls from Pub/Sub, so CPU stays allocated between requests
# (cpu_idle = false) and one instance always runs.
resource "google_cloud_run_v2_service" "activate" {
  for_each = var.partners

  project             = var.project
  name                = "activate-${each.key}"
  location            = var.region
  ingress             = "INGRESS_TRAFFIC_INTERNAL_ONLY"
  deletion_protection = var.deletion_protection
  labels              = merge(var.labels, { component = "activate", partner = each.key })

  template {
    service_account = var.service_accounts.activate

    scaling {
      min_instance_count = 1
      max_instance_count = 10
    }

    containers {
      image = var.image
      args = [
        "activate",
        "--addr=:8080", # the container_port Cloud Run sends to
        "--partner=${each.key}",
        "--project=${var.project}",
        # The subscription and deadletter/<partner>/ derive from the names.
        "--rules-bucket=${var.buckets.rules}",
        "--lake-bucket=${var.buckets.lake}",
      ]

      ports {
        container_port = 8080
      }

      resources {
        limits = {
          cpu    = "1"
          memory = "512Mi"
        }
        cpu_idle = false
      }

      env {
        name = "SEGMENTFLOW_PARTNER_SECRET"
        value_source {
          secret_key_ref {
            secret  = google_secret_manager_secret.secret["segmentflow-partner-${each.key}-hmac"].secret_id
            version = "latest"
          }
        }
      }

      startup_probe {
        http_get {
          path = "/readyz"
        }
      }
    }
  }

  depends_on = [google_secret_manager_secret_iam_member.accessor]
}
