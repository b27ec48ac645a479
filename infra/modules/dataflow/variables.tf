variable "project" {
  description = "Project that runs the Dataflow jobs."
  type        = string
}

variable "region" {
  description = "Dataflow, Workflows and Cloud Scheduler region."
  type        = string
}

variable "template_prefix" {
  description = "gs:// prefix of the flex-template specs, one PREFIX<pipeline>.json per pipeline, all on the one segmentflow image (see docs/runners.md, the flex template)."
  type        = string
}

variable "service_accounts" {
  description = "Service account email by component from the iam module (uses dataflow and orchestrator)."
  type        = map(string)
}

variable "temp_location" {
  description = "gs:// URL for Dataflow temp files."
  type        = string
}

variable "staging_location" {
  description = "gs:// URL for Dataflow staging."
  type        = string
}

variable "subnetwork" {
  description = "Worker subnetwork (regions/R/subnetworks/S); null for the default network."
  type        = string
  default     = null
}

variable "pubsub" {
  description = "Pub/Sub ids from the pubsub module."
  type = object({
    events_dlq_topic      = string
    classify_subscription = string
    lake_subscription     = string
  })
}

variable "bigtable" {
  description = "Bigtable instance, app profiles and tables from the bigtable module."
  type = object({
    instance            = string
    serving_app_profile = string
    batch_app_profile   = string
    users_table         = string
    profiles_table      = string
  })
}

variable "buckets" {
  description = "Bucket names from the gcs module."
  type = object({
    lake     = string
    rules    = string
    failover = string
  })
}

variable "streaming" {
  description = "Sizing of the streaming jobs (classify, lake): machine type and worker bounds for autoscaling."
  type = object({
    machine_type        = string
    classify_max_worker = number
    lake_max_workers    = number
  })
  default = {
    machine_type        = "n2-standard-4"
    classify_max_worker = 20
    lake_max_workers    = 5
  }
}

variable "batch_machine_type" {
  description = "Machine type of the batch pipelines (reconcile, stats, replay, vendorpull)."
  type        = string
  default     = "n2-standard-4"
}

variable "batch_max_workers" {
  description = "Upper bound of autoscaling for batch jobs."
  type        = number
  default     = 20
}

variable "reconcile_days" {
  description = "Event dates the nightly reconcile rewrites, ending yesterday: an event may reach the lake up to 7 days late (the pipelines' allowed lateness), so 8 keeps every partition complete; each run reads about reconcile_days + 2 days of raw objects."
  type        = number
  default     = 8

  validation {
    condition     = var.reconcile_days >= 1 && floor(var.reconcile_days) == var.reconcile_days
    error_message = "reconcile_days must be a whole number of days, at least 1."
  }
}

variable "reconcile_schedule" {
  description = "Cron (UTC) of the nightly reconcile -> stats workflow."
  type        = string
  default     = "15 2 * * *"
}

variable "vendor_sources" {
  description = "Vendor REST sources pulled by vendorpull, each with its cron schedule (UTC)."
  type        = map(string)
  default     = {}
}
