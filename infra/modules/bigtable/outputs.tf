output "instance" {
  description = "Bigtable instance id."
  value       = google_bigtable_instance.main.name
}

output "serving_app_profile" {
  description = "App profile with multi-cluster routing (classify, profiles API)."
  value       = google_bigtable_app_profile.serving.app_profile_id
}

output "batch_app_profile" {
  description = "App profile pinned to the second cluster (stats, replay)."
  value       = google_bigtable_app_profile.batch.app_profile_id
}

output "users_table" {
  description = "Name of the users table."
  value       = google_bigtable_table.users.name
}

output "profiles_table" {
  description = "Name of the profiles table."
  value       = google_bigtable_table.profiles.name
}
