variable "project" {
  description = "Project that owns the buckets."
  type        = string
}

variable "bucket_prefix" {
  description = "Prefix of every bucket name (bucket names are global): usually the project id."
  type        = string
}

variable "location" {
  description = "Location of the lake, rules and artifacts buckets: the primary region, or a dual-region such as EUR4 for a lake that survives a regional outage."
  type        = string
}

variable "standby_region" {
  description = "Region of the failover bucket, next to the standby collector."
  type        = string
}

variable "lake_nearline_days" {
  description = "Age in days after which lake objects move to NEARLINE."
  type        = number
  default     = 30
}

variable "lake_coldline_days" {
  description = "Age in days after which lake objects move to COLDLINE."
  type        = number
  default     = 90
}

variable "lake_archive_days" {
  description = "Age in days after which raw and vendor lake objects move to ARCHIVE."
  type        = number
  default     = 365
}

variable "badrows_retention_days" {
  description = "Days bad rows are kept before deletion."
  type        = number
  default     = 90
}

variable "failover_retention_days" {
  description = "Days failover objects are kept (reconcile folds them into the lake within hours)."
  type        = number
  default     = 30
}

variable "rules_noncurrent_versions" {
  description = "Noncurrent generations of the current rule-set pointer kept for audit."
  type        = number
  default     = 100
}

variable "force_destroy" {
  description = "Allow terraform destroy to delete non-empty buckets (dev only)."
  type        = bool
  default     = false
}

variable "labels" {
  description = "Labels put on every bucket."
  type        = map(string)
  default     = {}
}
