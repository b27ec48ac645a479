locals {
  # Flags of `segmentflow collector` (cmd/segmentflow). Cloud Run sets PORT.
  collector_args = [
    "collector",
    "--project=${var.project}",
    # Flags of `segmentflow collector -h`; topics by short name in --project.
    "--topic=${reverse(split("/", var.pubsub.events_topic))[0]}",
    "--dlq-topic=${reverse(split("/", var.pubsub.events_dlq_topic))[0]}",
    "--lake-bucket=${var.buckets.lake}",
    "--node-id=${var.region}",
  ]
}

resource "google_cloud_run_v2_service" "collector" {
  project             = var.project
  name                = "collector"
  location            = var.region
  ingress             = var.collector_ingress
  deletion_protection = var.deletion_protection
  labels              = merge(var.labels, { component = "collector" })

  template {
    service_account                  = var.service_accounts.collector
    max_instance_request_concurrency = 200
    timeout                          = "30s"

    scaling {
      min_instance_count = var.collector_scaling.min
      max_instance_count = var.collector_scaling.max
    }

    containers {
      image = var.image
      args  = local.collector_args

      ports {
        container_port = 8080
      }

      resources {
        limits = {
          cpu    = "2"
          memory = "1Gi"
        }
        startup_cpu_boost = true
      }

      env {
        name = "SEGMENTFLOW_WRITE_KEYS"
        value_source {
          secret_key_ref {
            secret  = google_secret_manager_secret.secret["segmentflow-write-keys"].secret_id
            version = "latest"
          }
        }
      }

      startup_probe {
        http_get {
          path = "/readyz"
        }
      }

      liveness_probe {
        http_get {
          path = "/healthz"
        }
      }
    }
  }

  depends_on = [google_secret_manager_secret_iam_member.accessor]
}

# App SDKs call the tracking API without Google credentials; the write key
# (checked by the collector) is the authentication.
resource "google_cloud_run_v2_service_iam_member" "collector_public" {
  project  = var.project
  location = var.region
  name     = google_cloud_run_v2_service.collector.name
  role     = "roles/run.invoker"
  member   = "allUsers"
}
