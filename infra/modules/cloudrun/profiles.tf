resource "google_cloud_run_v2_service" "profiles" {
  project             = var.project
  name                = "profiles"
  location            = var.region
  ingress             = "INGRESS_TRAFFIC_INTERNAL_ONLY"
  deletion_protection = var.deletion_protection
  labels              = merge(var.labels, { component = "profiles" })

  template {
    service_account                  = var.service_accounts.profiles
    max_instance_request_concurrency = 250
    timeout                          = "5s"

    scaling {
      min_instance_count = var.profiles_scaling.min
      max_instance_count = var.profiles_scaling.max
    }

    containers {
      image = var.image
      args = [
        "profiles",
        "--addr=:8080", # the container_port Cloud Run sends to
        "--project=${var.project}",
        "--instance=${var.bigtable.instance}",
        "--app-profile=${var.bigtable.app_profile}",
        "--table=${var.bigtable.profiles_table}",
        "--rules-bucket=${var.buckets.rules}",
      ]

      ports {
        container_port = 8080
      }

      resources {
        limits = {
          cpu    = "1"
          memory = "512Mi"
        }
        startup_cpu_boost = true
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

resource "google_cloud_run_v2_service_iam_member" "profiles_invoker" {
  for_each = toset(var.profile_invokers)

  project  = var.project
  location = var.region
  name     = google_cloud_run_v2_service.profiles.name
  role     = "roles/run.invoker"
  member   = each.value
}
