output "streaming_pipelines" {
  description = "Data Pipelines ids of the streaming jobs by pipeline (classify, lake)."
  value       = { for k, p in google_data_pipeline_pipeline.streaming : k => p.id }
}

output "nightly_workflow" {
  description = "Workflow that runs reconcile then stats."
  value       = google_workflows_workflow.nightly.id
}

output "replay_workflow" {
  description = "Workflow that launches a replay on demand."
  value       = google_workflows_workflow.replay.id
}
