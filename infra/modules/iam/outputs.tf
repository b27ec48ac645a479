output "emails" {
  description = "Service account email by component (collector, rules, profiles, activate, dataflow, orchestrator)."
  value       = { for k, sa in google_service_account.sa : k => sa.email }
}
