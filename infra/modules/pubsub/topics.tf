# The collector publishes here; `lake` and `classify` read through their own subscriptions.
resource "google_pubsub_topic" "events" {
  project                    = var.project
  name                       = local.names.topics.events
  message_retention_duration = var.topic_retention
  labels                     = var.labels

  message_storage_policy {
    allowed_persistence_regions = var.persistence_regions
  }
}

# Bad rows (with their original payload and a typed reason) and events the
# pipelines failed to process max_delivery_attempts times.
resource "google_pubsub_topic" "events_dlq" {
  project                    = var.project
  name                       = local.names.topics.events_dlq
  message_retention_duration = var.topic_retention
  labels                     = var.labels

  message_storage_policy {
    allowed_persistence_regions = var.persistence_regions
  }
}

# One topic per partner isolates partners: a slow partner's backlog never
# delays another's deliveries.
resource "google_pubsub_topic" "activation" {
  for_each = var.partners

  project                    = var.project
  name                       = "${local.names.topics.activation_prefix}${each.key}"
  message_retention_duration = var.topic_retention
  labels                     = merge(var.labels, { partner = each.key })

  message_storage_policy {
    allowed_persistence_regions = var.persistence_regions
  }
}

resource "google_pubsub_topic" "activation_dlq" {
  for_each = var.partners

  project = var.project
  name    = "${local.names.topics.activation_prefix}${each.key}${local.names.topics.activation_dlq_suffix}"
  labels  = merge(var.labels, { partner = each.key })

  message_storage_policy {
    allowed_persistence_regions = var.persistence_regions
  }
}
