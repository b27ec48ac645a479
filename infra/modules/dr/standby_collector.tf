# The warm standby of the collection path: the same collector, publishing to
# the same global topic through the standby region's regional endpoint (the
# topic's storage policy allows both regions), failing over to a bucket in
# its own region. Nothing else has to survive for events to be kept.
resource "google_cloud_run_v2_service" "standby_collector" {
  project             = var.project
  name                = "collector"
  location            = var.standby_region
  ingress             = "INGRESS_TRAFFIC_INTERNAL_LOAD_BALANCER"
  deletion_protection = false
  labels              = merge(var.labels, { component = "collector", role = "standby" })

  template {
    service_account                  = var.collector_service_account
    max_instance_request_concurrency = 200
    timeout                          = "30s"

    scaling {
      min_instance_count = var.standby_scaling.min
      max_instance_count = var.standby_scaling.max
    }

    containers {
      image = var.image
      args = [
        "collector",
        "--project=${var.project}",
        # Flags of `segmentflow collector -h` (--pubsub-endpoint is for
        # emulators only); failover objects go to the standby region's bucket.
        "--topic=${reverse(split("/", var.events_topic))[0]}",
        "--dlq-topic=${reverse(split("/", var.events_dlq_topic))[0]}",
        "--lake-bucket=${var.failover_bucket}",
        "--node-id=${var.standby_region}",
      ]

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
            secret  = var.write_keys_secret
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
}

resource "google_cloud_run_v2_service_iam_member" "standby_public" {
  project  = var.project
  location = var.standby_region
  name     = google_cloud_run_v2_service.standby_collector.name
  role     = "roles/run.invoker"
  member   = "allUsers"
}
