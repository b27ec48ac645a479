locals {
  # A subscription that never expires: the pipelines may be stopped for days.
  never_expire = ""
}

resource "google_pubsub_subscription" "classify" {
  project                    = var.project
  name                       = local.names.subscriptions.classify
  topic                      = google_pubsub_topic.events.id
  ack_deadline_seconds       = var.pipeline_ack_deadline
  message_retention_duration = var.subscription_retention
  retain_acked_messages      = false
  labels                     = merge(var.labels, { pipeline = "classify" })

  expiration_policy {
    ttl = local.never_expire
  }

  dead_letter_policy {
    dead_letter_topic     = google_pubsub_topic.events_dlq.id
    max_delivery_attempts = var.max_delivery_attempts
  }

  retry_policy {
    minimum_backoff = "10s"
    maximum_backoff = "600s"
  }
}

resource "google_pubsub_subscription" "lake" {
  project                    = var.project
  name                       = local.names.subscriptions.lake
  topic                      = google_pubsub_topic.events.id
  ack_deadline_seconds       = var.pipeline_ack_deadline
  message_retention_duration = var.subscription_retention
  retain_acked_messages      = false
  labels                     = merge(var.labels, { pipeline = "lake" })

  expiration_policy {
    ttl = local.never_expire
  }

  dead_letter_policy {
    dead_letter_topic     = google_pubsub_topic.events_dlq.id
    max_delivery_attempts = var.max_delivery_attempts
  }

  retry_policy {
    minimum_backoff = "10s"
    maximum_backoff = "600s"
  }
}

# Keeps dead letters until an operator inspects or redrives them; without a
# subscription Pub/Sub would drop them.
resource "google_pubsub_subscription" "events_dlq" {
  project                    = var.project
  name                       = local.names.subscriptions.events_dlq
  topic                      = google_pubsub_topic.events_dlq.id
  ack_deadline_seconds       = 60
  message_retention_duration = var.dlq_retention
  labels                     = var.labels

  expiration_policy {
    ttl = local.never_expire
  }
}

resource "google_pubsub_subscription" "activation" {
  for_each = var.partners

  project                    = var.project
  name                       = "${google_pubsub_topic.activation[each.key].name}${local.names.subscriptions.activation_suffix}"
  topic                      = google_pubsub_topic.activation[each.key].id
  ack_deadline_seconds       = var.activate_ack_deadline
  message_retention_duration = var.subscription_retention
  labels                     = merge(var.labels, { partner = each.key })

  expiration_policy {
    ttl = local.never_expire
  }

  dead_letter_policy {
    dead_letter_topic     = google_pubsub_topic.activation_dlq[each.key].id
    max_delivery_attempts = var.max_delivery_attempts
  }

  retry_policy {
    minimum_backoff = "10s"
    maximum_backoff = "600s"
  }
}

resource "google_pubsub_subscription" "activation_dlq" {
  for_each = var.partners

  project                    = var.project
  name                       = "${google_pubsub_topic.activation_dlq[each.key].name}${local.names.subscriptions.dlq_store_suffix}"
  topic                      = google_pubsub_topic.activation_dlq[each.key].id
  ack_deadline_seconds       = 60
  message_retention_duration = var.dlq_retention
  labels                     = merge(var.labels, { partner = each.key })

  expiration_policy {
    ttl = local.never_expire
  }
}
