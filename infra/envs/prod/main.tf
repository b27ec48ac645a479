# prod: sized for 10,000 events/s (infra/README.md, cost drivers) with
# headroom; Bigtable autoscales, deletion is refused.
module "platform" {
  source = "../../modules/platform"

  environment    = "prod"
  project        = var.project
  project_number = var.project_number
  region         = var.region
  standby_region = var.standby_region
  lake_location  = var.lake_location
  bigtable_clusters = [
    for z in var.bigtable_zones : { zone = z, min_nodes = 3, max_nodes = 12, cpu_target = 60, storage_type = "SSD" }
  ]
  image             = var.image
  partners          = var.partners
  domains           = var.domains
  profile_invokers  = var.profile_invokers
  collector_scaling = { min = 3, max = 60 }
  standby_scaling   = { min = 1, max = 60 }
  streaming = {
    machine_type        = "n2-standard-4"
    classify_max_worker = 20
    lake_max_workers    = 6
  }
  vendor_sources      = var.vendor_sources
  subnetwork          = var.subnetwork
  deletion_protection = true
  force_destroy       = false
}
