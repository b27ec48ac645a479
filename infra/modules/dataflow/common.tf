locals {
  names = jsondecode(file("${path.module}/../../names.json"))

  lake_url     = "gs://${var.buckets.lake}/"
  failover_url = "gs://${var.buckets.failover}/${local.names.lake_prefixes.failover}"

  # Shared launch environment: the worker identity, private IPs, temp dirs.
  environment = {
    service_account_email = var.service_accounts.dataflow
    temp_location         = var.temp_location
    subnetwork            = var.subnetwork
    ip_configuration      = "WORKER_IP_PRIVATE"
    additional_labels     = { system = "segmentflow" }
  }
}
