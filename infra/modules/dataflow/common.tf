locals {
  names = jsondecode(file("${path.module}/../../names.json"))

  lake_url     = "gs://${var.buckets.lake}/"
  failover_url = "gs://${var.buckets.failover}/${local.names.lake_prefixes.failover}"

  # Short names from the pubsub module's ids (projects/P/subscriptions/S),
  # so the jobs still depend on the resources that create them.
  classify_subscription = reverse(split("/", var.pubsub.classify_subscription))[0]
  lake_subscription     = reverse(split("/", var.pubsub.lake_subscription))[0]
  events_dlq_topic      = reverse(split("/", var.pubsub.events_dlq_topic))[0]

  # Shared launch environment: the worker identity, private IPs, temp dirs.
  environment = {
    service_account_email = var.service_accounts.dataflow
    temp_location         = var.temp_location
    subnetwork            = var.subnetwork
    ip_configuration      = "WORKER_IP_PRIVATE"
    additional_labels     = { system = "segmentflow" }
  }
}
