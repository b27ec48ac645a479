variable "project" {
  description = "Google Cloud project id."
  type        = string
}

variable "project_number" {
  description = "Numeric project id (gcloud projects describe PROJECT --format='value(projectNumber)')."
  type        = string
}

variable "region" {
  description = "Primary region."
  type        = string
}

variable "standby_region" {
  description = "Warm-standby region of the collection path."
  type        = string
}

variable "bigtable_zones" {
  description = "Two zones for the Bigtable clusters."
  type        = list(string)
}

variable "image" {
  description = "segmentflow container image (Artifact Registry)."
  type        = string
}

variable "partners" {
  description = "Partner ids (must match the partners of the published rule set)."
  type        = set(string)
}

variable "domains" {
  description = "Host names of the tracking API."
  type        = list(string)
}

variable "profile_invokers" {
  description = "Members allowed to call the profile API."
  type        = list(string)
  default     = []
}

variable "vendor_sources" {
  description = "Vendor REST sources with their cron schedule (UTC)."
  type        = map(string)
  default     = {}
}

variable "lake_location" {
  description = "Location of the lake, rules and artifacts buckets: a dual-region (e.g. EUR4) keeps the lake through a regional outage."
  type        = string
}

variable "subnetwork" {
  description = "Dataflow worker subnetwork (regions/R/subnetworks/S) with Private Google Access."
  type        = string
}
