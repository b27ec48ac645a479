variable "environment" {
  description = "Environment name (dev, prod): a label on every resource."
  type        = string
}

variable "project" {
  description = "Google Cloud project id."
  type        = string
}

variable "project_number" {
  description = "Numeric project id (names Google's service agents without an API call at plan time)."
  type        = string
}

variable "region" {
  description = "Primary region: pipelines, Bigtable, services."
  type        = string
}

variable "standby_region" {
  description = "Warm-standby region of the collection path."
  type        = string
}

variable "lake_location" {
  description = "Location of the lake, rules and artifacts buckets (a region, or a dual-region such as EUR4)."
  type        = string
}

variable "bigtable_clusters" {
  description = "The two Bigtable clusters (zones in the primary region's area and autoscaling bounds)."
  type = list(object({
    zone         = string
    min_nodes    = number
    max_nodes    = number
    cpu_target   = number
    storage_type = string
  }))
}

variable "image" {
  description = "Container image of segmentflow for Cloud Run (linux/amd64)."
  type        = string
}

variable "partners" {
  description = "Partner ids that get an activation topic, subscription and activate service."
  type        = set(string)
}

variable "domains" {
  description = "Host names of the tracking API behind the global load balancer."
  type        = list(string)
}

variable "profile_invokers" {
  description = "Members allowed to call the profile API."
  type        = list(string)
  default     = []
}

variable "collector_scaling" {
  description = "Instance bounds of the primary collector."
  type = object({
    min = number
    max = number
  })
}

variable "standby_scaling" {
  description = "Instance bounds of the standby collector."
  type = object({
    min = number
    max = number
  })
}

variable "streaming" {
  description = "Sizing of the streaming Dataflow jobs."
  type = object({
    machine_type        = string
    classify_max_worker = number
    lake_max_workers    = number
  })
}

variable "vendor_sources" {
  description = "Vendor REST sources with their cron schedule (UTC)."
  type        = map(string)
  default     = {}
}

variable "subnetwork" {
  description = "Dataflow worker subnetwork; null for the default network."
  type        = string
  default     = null
}

variable "deletion_protection" {
  description = "Protect Bigtable and Cloud Run from terraform destroy."
  type        = bool
}

variable "force_destroy" {
  description = "Let terraform destroy non-empty buckets."
  type        = bool
}
