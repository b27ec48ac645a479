output "events_topic" {
  description = "Id (projects/P/topics/T) of the events topic."
  value       = google_pubsub_topic.events.id
}

output "events_topic_name" {
  description = "Short name of the events topic."
  value       = google_pubsub_topic.events.name
}

output "events_dlq_topic" {
  description = "Id of the bad-rows / dead-letter topic."
  value       = google_pubsub_topic.events_dlq.id
}

output "classify_subscription" {
  description = "Id of the subscription the classify pipeline reads."
  value       = google_pubsub_subscription.classify.id
}

output "lake_subscription" {
  description = "Id of the subscription the lake pipeline reads."
  value       = google_pubsub_subscription.lake.id
}

output "activation_topics" {
  description = "Activation topic id by partner."
  value       = { for p, t in google_pubsub_topic.activation : p => t.id }
}

output "activation_subscriptions" {
  description = "Activation subscription id by partner (read by `activate`)."
  value       = { for p, s in google_pubsub_subscription.activation : p => s.id }
}
