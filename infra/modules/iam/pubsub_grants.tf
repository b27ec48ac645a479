locals {
  topic_grants = merge(
    {
      "collector events"     = { topic = var.pubsub.events_topic, account = "collector" }
      "collector events-dlq" = { topic = var.pubsub.events_dlq_topic, account = "collector" }
      "dataflow events-dlq"  = { topic = var.pubsub.events_dlq_topic, account = "dataflow" }
    },
    { for p, t in var.pubsub.activation_topics : "dataflow activation ${p}" => { topic = t, account = "dataflow" } },
  )

  subscription_grants = merge(
    {
      "dataflow classify" = { subscription = var.pubsub.classify_subscription, account = "dataflow" }
      "dataflow lake"     = { subscription = var.pubsub.lake_subscription, account = "dataflow" }
    },
    { for p, s in var.pubsub.activation_subscriptions : "activate ${p}" => { subscription = s, account = "activate" } },
  )
}

resource "google_pubsub_topic_iam_member" "publisher" {
  for_each = local.topic_grants

  project = var.project
  topic   = each.value.topic
  role    = "roles/pubsub.publisher"
  member  = local.member[each.value.account]
}

resource "google_pubsub_subscription_iam_member" "subscriber" {
  for_each = local.subscription_grants

  project      = var.project
  subscription = each.value.subscription
  role         = "roles/pubsub.subscriber"
  member       = local.member[each.value.account]
}

# Dataflow's Pub/Sub source reads the subscription's metadata (ack deadline).
resource "google_pubsub_subscription_iam_member" "viewer" {
  for_each = { for k, v in local.subscription_grants : k => v if v.account == "dataflow" }

  project      = var.project
  subscription = each.value.subscription
  role         = "roles/pubsub.viewer"
  member       = local.member[each.value.account]
}
