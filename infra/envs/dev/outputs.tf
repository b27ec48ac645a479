output "collector_address" {
  description = "Global IP of the tracking API; point the domains here."
  value       = module.platform.collector_address
}

output "rules_uri" {
  description = "URL of the rules API and console."
  value       = module.platform.rules_uri
}

output "profiles_uri" {
  description = "URL of the profile API."
  value       = module.platform.profiles_uri
}

output "buckets" {
  description = "Bucket names."
  value       = module.platform.buckets
}

output "flex_template_prefix" {
  description = "Where the flex-template specs go: PREFIX<pipeline>.json (`make flex-build`)."
  value       = module.platform.flex_template_prefix
}

output "staging_location" {
  description = "Dataflow staging location."
  value       = module.platform.staging_location
}

output "service_accounts" {
  description = "Service account email by component."
  value       = module.platform.service_accounts
}
