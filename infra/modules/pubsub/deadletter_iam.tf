# Pub/Sub forwards dead letters as its own service agent: it must publish to
# each dead-letter topic and subscribe (ack) on each source subscription.
locals {
  pubsub_agent = "serviceAccount:service-${var.project_number}@gcp-sa-pubsub.iam.gserviceaccount.com"

  dlq_topics = merge(
    { events = google_pubsub_topic.events_dlq.id },
    { for p, t in google_pubsub_topic.activation_dlq : "activation-${p}" => t.id },
  )

  dlq_sources = merge(
    {
      classify = google_pubsub_subscription.classify.id
      lake     = google_pubsub_subscription.lake.id
    },
    { for p, s in google_pubsub_subscription.activation : "activation-${p}" => s.id },
  )
}

resource "google_pubsub_topic_iam_member" "dlq_publisher" {
  for_each = local.dlq_topics

  project = var.project
  topic   = each.value
  role    = "roles/pubsub.publisher"
  member  = local.pubsub_agent
}

resource "google_pubsub_subscription_iam_member" "dlq_source_subscriber" {
  for_each = local.dlq_sources

  project      = var.project
  subscription = each.value
  role         = "roles/pubsub.subscriber"
  member       = local.pubsub_agent
}
