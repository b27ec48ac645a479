variable "project" {
  description = "Project that owns the Bigtable instance."
  type        = string
}

variable "instance_name" {
  description = "Bigtable instance id (6-33 characters)."
  type        = string
}

variable "clusters" {
  description = <<-EOT
    Exactly two clusters in different zones (replication for availability and
    for isolating batch from serving). Each: zone, min_nodes, max_nodes,
    cpu_target (autoscaling) and storage_type (SSD or HDD).
  EOT
  type = list(object({
    zone         = string
    min_nodes    = number
    max_nodes    = number
    cpu_target   = number
    storage_type = string
  }))

  validation {
    condition     = length(var.clusters) == 2 && length(distinct([for c in var.clusters : c.zone])) == 2
    error_message = "Bigtable needs exactly two clusters in two different zones."
  }
}

variable "deletion_protection" {
  description = "Refuse to destroy the instance and tables (true in production)."
  type        = bool
  default     = true
}

variable "labels" {
  description = "Labels put on the instance."
  type        = map(string)
  default     = {}
}
