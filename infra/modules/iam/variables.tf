variable "project" {
  description = "Project of the service accounts and bindings."
  type        = string
}

variable "account_prefix" {
  description = "Prefix of service account ids (account ids are 6-30 characters)."
  type        = string
  default     = "sf"
}

variable "pubsub" {
  description = "Pub/Sub resource ids from the pubsub module."
  type = object({
    events_topic             = string
    events_dlq_topic         = string
    classify_subscription    = string
    lake_subscription        = string
    activation_topics        = map(string)
    activation_subscriptions = map(string)
  })
}

variable "bigtable" {
  description = "Bigtable instance and table names from the bigtable module."
  type = object({
    instance       = string
    users_table    = string
    profiles_table = string
  })
}

variable "buckets" {
  description = "Bucket names from the gcs module."
  type = object({
    lake      = string
    rules     = string
    failover  = string
    artifacts = string
  })
}
