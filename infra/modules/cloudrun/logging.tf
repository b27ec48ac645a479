# At 10,000 events/s the collector serves ~500 requests/s: its Cloud Run
# request logs alone would cost more than the collector. Keep errors and a
# 1% sample of successes.
resource "google_logging_project_exclusion" "collector_requests" {
  project     = var.project
  name        = "segmentflow-collector-requests"
  description = "drop 99% of successful collector request logs"
  filter      = "resource.type=\"cloud_run_revision\" AND resource.labels.service_name=\"${google_cloud_run_v2_service.collector.name}\" AND logName:\"run.googleapis.com%2Frequests\" AND httpRequest.status<400 AND sample(insertId, 0.99)"
}
