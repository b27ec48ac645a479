output "collector_service" {
  description = "Name of the primary collector service (the dr module puts it behind the load balancer)."
  value       = google_cloud_run_v2_service.collector.name
}

output "collector_uri" {
  description = "Direct URL of the primary collector."
  value       = google_cloud_run_v2_service.collector.uri
}

output "rules_uri" {
  description = "URL of the rules API and console."
  value       = google_cloud_run_v2_service.rules.uri
}

output "profiles_uri" {
  description = "URL of the profile API (internal ingress)."
  value       = google_cloud_run_v2_service.profiles.uri
}

output "write_keys_secret" {
  description = "Secret Manager id holding the collector's write keys (the standby collector reads it too)."
  value       = google_secret_manager_secret.secret["segmentflow-write-keys"].secret_id
}
