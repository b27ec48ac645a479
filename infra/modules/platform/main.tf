locals {
  labels = { system = "segmentflow", environment = var.environment }
}

module "pubsub" {
  source = "../pubsub"

  project             = var.project
  project_number      = var.project_number
  partners            = var.partners
  persistence_regions = distinct([var.region, var.standby_region])
  labels              = local.labels

  depends_on = [google_project_service.api]
}

module "bigtable" {
  source = "../bigtable"

  project             = var.project
  instance_name       = "segmentflow-${var.environment}"
  clusters            = var.bigtable_clusters
  deletion_protection = var.deletion_protection
  labels              = local.labels

  depends_on = [google_project_service.api]
}

module "gcs" {
  source = "../gcs"

  project        = var.project
  bucket_prefix  = var.project
  location       = var.lake_location
  standby_region = var.standby_region
  force_destroy  = var.force_destroy
  labels         = local.labels

  depends_on = [google_project_service.api]
}

module "iam" {
  source = "../iam"

  project = var.project
  pubsub = {
    events_topic             = module.pubsub.events_topic
    events_dlq_topic         = module.pubsub.events_dlq_topic
    classify_subscription    = module.pubsub.classify_subscription
    lake_subscription        = module.pubsub.lake_subscription
    activation_topics        = module.pubsub.activation_topics
    activation_subscriptions = module.pubsub.activation_subscriptions
  }
  bigtable = {
    instance       = module.bigtable.instance
    users_table    = module.bigtable.users_table
    profiles_table = module.bigtable.profiles_table
  }
  buckets = {
    lake      = module.gcs.lake_bucket
    rules     = module.gcs.rules_bucket
    failover  = module.gcs.failover_bucket
    artifacts = module.gcs.artifacts_bucket
  }
}

module "cloudrun" {
  source = "../cloudrun"

  project          = var.project
  region           = var.region
  image            = var.image
  service_accounts = module.iam.emails
  partners         = var.partners
  pubsub = {
    events_topic             = module.pubsub.events_topic
    events_dlq_topic         = module.pubsub.events_dlq_topic
    activation_subscriptions = module.pubsub.activation_subscriptions
  }
  bigtable = {
    instance       = module.bigtable.instance
    app_profile    = module.bigtable.serving_app_profile
    users_table    = module.bigtable.users_table
    profiles_table = module.bigtable.profiles_table
  }
  buckets = {
    lake  = module.gcs.lake_bucket
    rules = module.gcs.rules_bucket
  }
  collector_scaling   = var.collector_scaling
  profile_invokers    = var.profile_invokers
  deletion_protection = var.deletion_protection
  labels              = local.labels
}

module "dataflow" {
  source = "../dataflow"

  project          = var.project
  region           = var.region
  template_prefix  = module.gcs.flex_template_prefix
  service_accounts = module.iam.emails
  temp_location    = module.gcs.temp_location
  staging_location = module.gcs.staging_location
  subnetwork       = var.subnetwork
  pubsub = {
    events_dlq_topic      = module.pubsub.events_dlq_topic
    classify_subscription = module.pubsub.classify_subscription
    lake_subscription     = module.pubsub.lake_subscription
  }
  bigtable = {
    instance            = module.bigtable.instance
    serving_app_profile = module.bigtable.serving_app_profile
    batch_app_profile   = module.bigtable.batch_app_profile
    users_table         = module.bigtable.users_table
    profiles_table      = module.bigtable.profiles_table
  }
  buckets = {
    lake     = module.gcs.lake_bucket
    rules    = module.gcs.rules_bucket
    failover = module.gcs.failover_bucket
  }
  streaming      = var.streaming
  vendor_sources = var.vendor_sources

  # The jobs start reading at once: grants first.
  depends_on = [module.iam]
}

module "dr" {
  source = "../dr"

  project                   = var.project
  primary_region            = var.region
  standby_region            = var.standby_region
  primary_collector_service = module.cloudrun.collector_service
  image                     = var.image
  collector_service_account = module.iam.emails.collector
  write_keys_secret         = module.cloudrun.write_keys_secret
  events_topic              = module.pubsub.events_topic
  events_dlq_topic          = module.pubsub.events_dlq_topic
  failover_bucket           = module.gcs.failover_bucket
  domains                   = var.domains
  standby_scaling           = var.standby_scaling
  labels                    = local.labels
}
