variable "project" {
  description = "Project of the services."
  type        = string
}

variable "region" {
  description = "Primary region of the services."
  type        = string
}

variable "image" {
  description = "Container image of the segmentflow binary (one image, a subcommand per service)."
  type        = string
}

variable "service_accounts" {
  description = "Service account email by component, from the iam module."
  type        = map(string)
}

variable "partners" {
  description = "Partner ids; one `activate` service each, so a slow partner never holds up another."
  type        = set(string)
}

variable "pubsub" {
  description = "Pub/Sub ids from the pubsub module."
  type = object({
    events_topic             = string
    events_dlq_topic         = string
    activation_subscriptions = map(string)
  })
}

variable "bigtable" {
  description = "Bigtable instance, app profile and tables."
  type = object({
    instance       = string
    app_profile    = string
    users_table    = string
    profiles_table = string
  })
}

variable "buckets" {
  description = "Bucket names from the gcs module."
  type = object({
    lake  = string
    rules = string
  })
}

variable "collector_scaling" {
  description = "Instance bounds of the primary collector (an instance takes ~2,000 events/s)."
  type = object({
    min = number
    max = number
  })
  default = { min = 2, max = 50 }
}

variable "collector_ingress" {
  description = "Ingress of the collector: INGRESS_TRAFFIC_INTERNAL_LOAD_BALANCER behind the global load balancer (dr module), INGRESS_TRAFFIC_ALL without it."
  type        = string
  default     = "INGRESS_TRAFFIC_INTERNAL_LOAD_BALANCER"
}

variable "profiles_scaling" {
  description = "Instance bounds of the profile API."
  type = object({
    min = number
    max = number
  })
  default = { min = 1, max = 20 }
}

variable "profile_invokers" {
  description = "Members allowed to call the profile API (the ad decision servers' identities)."
  type        = list(string)
  default     = []
}

variable "deletion_protection" {
  description = "Refuse to destroy the services (true in production)."
  type        = bool
  default     = true
}

variable "labels" {
  description = "Labels put on every service."
  type        = map(string)
  default     = {}
}
