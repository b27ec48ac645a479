# dev: the whole platform at its smallest. One node per Bigtable cluster,
# scale-to-one services, destroyable buckets.
module "platform" {
  source = "../../modules/platform"

  environment    = "dev"
  project        = var.project
  project_number = var.project_number
  region         = var.region
  standby_region = var.standby_region
  lake_location  = var.region
  bigtable_clusters = [
    for z in var.bigtable_zones : { zone = z, min_nodes = 1, max_nodes = 2, cpu_target = 70, storage_type = "SSD" }
  ]
  image             = var.image
  partners          = var.partners
  domains           = var.domains
  profile_invokers  = var.profile_invokers
  collector_scaling = { min = 1, max = 5 }
  standby_scaling   = { min = 1, max = 5 }
  streaming = {
    machine_type        = "n2-standard-2"
    classify_max_worker = 2
    lake_max_workers    = 1
  }
  vendor_sources      = var.vendor_sources
  deletion_protection = false
  force_destroy       = true
}
