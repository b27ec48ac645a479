output "collector_address" {
  description = "Global IP address of the tracking API; point the domains' DNS records here."
  value       = google_compute_global_address.collector.address
}

output "standby_collector_uri" {
  description = "Direct URL of the standby collector (internal-LB ingress: reachable only through the load balancer)."
  value       = google_cloud_run_v2_service.standby_collector.uri
}
