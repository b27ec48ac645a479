variable "project" {
  description = "Project of the standby collector and the load balancer."
  type        = string
}

variable "primary_region" {
  description = "Region of the primary collector (cloudrun module)."
  type        = string
}

variable "standby_region" {
  description = "Region of the warm-standby collector."
  type        = string
}

variable "primary_collector_service" {
  description = "Cloud Run service name of the primary collector."
  type        = string
}

variable "image" {
  description = "Container image of the segmentflow binary."
  type        = string
}

variable "collector_service_account" {
  description = "Email of the collector service account."
  type        = string
}

variable "write_keys_secret" {
  description = "Secret Manager id of the write keys (shared with the primary collector)."
  type        = string
}

variable "events_topic" {
  description = "Id of the events topic (global; its storage policy allows the standby region)."
  type        = string
}

variable "events_dlq_topic" {
  description = "Id of the bad-rows topic."
  type        = string
}

variable "failover_bucket" {
  description = "Failover bucket in the standby region (gcs module)."
  type        = string
}

variable "domains" {
  description = "Host names of the tracking API (managed certificate; point their DNS A/AAAA records at the load balancer address)."
  type        = list(string)
}

variable "standby_scaling" {
  description = "Instance bounds of the standby collector: warm (min >= 1) so failover needs no cold start, max sized for the full load."
  type = object({
    min = number
    max = number
  })
  default = { min = 1, max = 50 }
}

variable "labels" {
  description = "Labels put on the standby collector."
  type        = map(string)
  default     = {}
}
