output "lake_bucket" {
  description = "Name of the lake bucket."
  value       = google_storage_bucket.lake.name
}

output "rules_bucket" {
  description = "Name of the rules repository bucket."
  value       = google_storage_bucket.rules.name
}

output "failover_bucket" {
  description = "Name of the standby region's failover bucket."
  value       = google_storage_bucket.failover.name
}

output "artifacts_bucket" {
  description = "Name of the artifacts bucket (flex templates, staging, temp)."
  value       = google_storage_bucket.artifacts.name
}

output "flex_template_prefix" {
  description = "gs:// URL prefix under which flex-template specs are uploaded."
  value       = "gs://${google_storage_bucket.artifacts.name}/${local.artifact_prefixes.flex}"
}

output "staging_location" {
  description = "gs:// URL for Dataflow staging."
  value       = "gs://${google_storage_bucket.artifacts.name}/${local.artifact_prefixes.staging}"
}

output "temp_location" {
  description = "gs:// URL for Dataflow temp files."
  value       = "gs://${google_storage_bucket.artifacts.name}/${local.artifact_prefixes.temp}"
}
