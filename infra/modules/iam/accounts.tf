# One identity per component, so each gets only what it touches and an audit
# log line names the component.
locals {
  accounts = {
    collector    = "tracking API: publishes events, writes failover and bad rows"
    rules        = "rules repository API and console: reads/writes the rules bucket"
    profiles     = "profile API: reads the profiles table"
    activate     = "partner delivery: reads activation subscriptions, writes dead letters"
    dataflow     = "Dataflow workers of every pipeline"
    orchestrator = "Cloud Scheduler, Workflows and Data Pipelines: launches Dataflow jobs"
  }
}

resource "google_service_account" "sa" {
  for_each = local.accounts

  project      = var.project
  account_id   = "${var.account_prefix}-${each.key}"
  display_name = "segmentflow ${each.key}"
  description  = each.value
}

locals {
  member = { for k, sa in google_service_account.sa : k => "serviceAccount:${sa.email}" }
}
