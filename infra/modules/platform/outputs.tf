output "collector_address" {
  description = "Global IP of the tracking API load balancer."
  value       = module.dr.collector_address
}

output "rules_uri" {
  description = "URL of the rules API and console."
  value       = module.cloudrun.rules_uri
}

output "profiles_uri" {
  description = "URL of the profile API."
  value       = module.cloudrun.profiles_uri
}

output "buckets" {
  description = "Bucket names (lake, rules, failover, artifacts)."
  value = {
    lake      = module.gcs.lake_bucket
    rules     = module.gcs.rules_bucket
    failover  = module.gcs.failover_bucket
    artifacts = module.gcs.artifacts_bucket
  }
}

output "flex_template_prefix" {
  description = "Where the flex-template specs go: PREFIX<pipeline>.json (`make flex-build`)."
  value       = module.gcs.flex_template_prefix
}

output "staging_location" {
  description = "Dataflow staging location for `segmentflow run --runner=dataflow`."
  value       = module.gcs.staging_location
}

output "service_accounts" {
  description = "Service account email by component."
  value       = module.iam.emails
}

output "bigtable_instance" {
  description = "Bigtable instance id."
  value       = module.bigtable.instance
}
