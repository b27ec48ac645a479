resource "google_cloud_run_v2_service" "rules" {
  project             = var.project
  name                = "rules"
  location            = var.region
  ingress             = "INGRESS_TRAFFIC_ALL"
  deletion_protection = var.deletion_protection
  labels              = merge(var.labels, { component = "rules" })

  template {
    service_account = var.service_accounts.rules

    # Rule sets are small; one instance serializes publishes nicely, the
    # generation preconditions keep several correct anyway.
    scaling {
      min_instance_count = 0
      max_instance_count = 3
    }

    containers {
      image = var.image
      args = [
        "rules",
        "--addr=:8080", # the container_port Cloud Run sends to
        "--bucket=${var.buckets.rules}",
      ]

      ports {
        container_port = 8080
      }

      resources {
        limits = {
          cpu    = "1"
          memory = "512Mi"
        }
      }

      env {
        name = "SEGMENTFLOW_RULES_TOKENS"
        value_source {
          secret_key_ref {
            secret  = google_secret_manager_secret.secret["segmentflow-rules-tokens"].secret_id
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

# Editors sign in to the console with API tokens (roles viewer, editor,
# publisher); Cloud Run itself lets the requests through.
resource "google_cloud_run_v2_service_iam_member" "rules_public" {
  project  = var.project
  location = var.region
  name     = google_cloud_run_v2_service.rules.name
  role     = "roles/run.invoker"
  member   = "allUsers"
}
