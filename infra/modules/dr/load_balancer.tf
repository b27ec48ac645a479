# Global external Application Load Balancer in front of both collectors.
# Each region is a serverless NEG; the LB sends a client to the nearest
# healthy region, and outlier detection ejects a region whose collector
# answers 5xx (its 503 means neither Pub/Sub nor failover took the data), so
# traffic fails over to the standby without a DNS change.
locals {
  collectors = {
    primary = { region = var.primary_region, service = var.primary_collector_service }
    standby = { region = var.standby_region, service = google_cloud_run_v2_service.standby_collector.name }
  }
}

resource "google_compute_region_network_endpoint_group" "collector" {
  for_each = local.collectors

  project               = var.project
  name                  = "collector-${each.key}"
  region                = each.value.region
  network_endpoint_type = "SERVERLESS"

  cloud_run {
    service = each.value.service
  }
}

resource "google_compute_backend_service" "collector" {
  project               = var.project
  name                  = "collector"
  protocol              = "HTTPS"
  load_balancing_scheme = "EXTERNAL_MANAGED"
  timeout_sec           = 30

  dynamic "backend" {
    for_each = google_compute_region_network_endpoint_group.collector
    content {
      group = backend.value.id
    }
  }

  outlier_detection {
    consecutive_errors                    = 5
    consecutive_gateway_failure           = 3
    enforcing_consecutive_errors          = 100
    enforcing_consecutive_gateway_failure = 100
    max_ejection_percent                  = 50
    interval {
      seconds = 10
    }
    base_ejection_time {
      seconds = 60
    }
  }

  log_config {
    enable      = true
    sample_rate = 0.01
  }
}

resource "google_compute_url_map" "collector" {
  project         = var.project
  name            = "collector"
  default_service = google_compute_backend_service.collector.id
}

resource "google_compute_managed_ssl_certificate" "collector" {
  project = var.project
  name    = "collector"

  managed {
    domains = var.domains
  }
}

resource "google_compute_target_https_proxy" "collector" {
  project          = var.project
  name             = "collector"
  url_map          = google_compute_url_map.collector.id
  ssl_certificates = [google_compute_managed_ssl_certificate.collector.id]
}

resource "google_compute_global_address" "collector" {
  project = var.project
  name    = "collector"
}

resource "google_compute_global_forwarding_rule" "collector_https" {
  project               = var.project
  name                  = "collector-https"
  target                = google_compute_target_https_proxy.collector.id
  ip_address            = google_compute_global_address.collector.id
  port_range            = "443"
  load_balancing_scheme = "EXTERNAL_MANAGED"
}

# Plain HTTP only redirects to HTTPS.
resource "google_compute_url_map" "redirect" {
  project = var.project
  name    = "collector-redirect"

  default_url_redirect {
    https_redirect = true
    strip_query    = false
  }
}

resource "google_compute_target_http_proxy" "redirect" {
  project = var.project
  name    = "collector-redirect"
  url_map = google_compute_url_map.redirect.id
}

resource "google_compute_global_forwarding_rule" "collector_http" {
  project               = var.project
  name                  = "collector-http"
  target                = google_compute_target_http_proxy.redirect.id
  ip_address            = google_compute_global_address.collector.id
  port_range            = "80"
  load_balancing_scheme = "EXTERNAL_MANAGED"
}
