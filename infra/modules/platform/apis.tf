locals {
  apis = [
    "bigtable.googleapis.com",
    "bigtableadmin.googleapis.com",
    "cloudscheduler.googleapis.com",
    "compute.googleapis.com",
    "datapipelines.googleapis.com",
    "dataflow.googleapis.com",
    "iam.googleapis.com",
    "pubsub.googleapis.com",
    "run.googleapis.com",
    "secretmanager.googleapis.com",
    "storage.googleapis.com",
    "workflowexecutions.googleapis.com",
    "workflows.googleapis.com",
  ]
}

resource "google_project_service" "api" {
  for_each = toset(local.apis)

  project            = var.project
  service            = each.value
  disable_on_destroy = false

  lifecycle {
    precondition {
      condition     = var.project != local.names.project_local
      error_message = "The project id is the local emulator's; set a real project."
    }
  }
}
