# Project-level roles only where no resource-level grant exists (logs,
# metrics, traces, Dataflow job control). Predefined roles only, never the
# basic owner/editor/viewer roles (infra/iam_test.go checks).
locals {
  telemetry_roles = ["roles/logging.logWriter", "roles/monitoring.metricWriter", "roles/cloudtrace.agent"]

  project_grants = merge(
    { for pair in setproduct(keys(local.accounts), local.telemetry_roles) : "${pair[0]} ${pair[1]}" => { account = pair[0], role = pair[1] } },
    {
      "dataflow roles/dataflow.worker"        = { account = "dataflow", role = "roles/dataflow.worker" }
      "orchestrator roles/dataflow.developer" = { account = "orchestrator", role = "roles/dataflow.developer" }
      "orchestrator roles/workflows.invoker"  = { account = "orchestrator", role = "roles/workflows.invoker" }
    },
  )
}

resource "google_project_iam_member" "grant" {
  for_each = local.project_grants

  project = var.project
  role    = each.value.role
  member  = local.member[each.value.account]
}

# The orchestrator launches jobs that run as the Dataflow worker account.
resource "google_service_account_iam_member" "orchestrator_acts_as_dataflow" {
  service_account_id = google_service_account.sa["dataflow"].name
  role               = "roles/iam.serviceAccountUser"
  member             = local.member.orchestrator
}
