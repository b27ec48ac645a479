# The two streaming pipelines run as Dataflow Data Pipelines of type
# STREAMING: the pipeline object launches the flex-template job and keeps it
# managed (update, stop) from terraform. The plain google_dataflow_flex_template_job
# resource exists only in the google-beta provider.
locals {
  streaming_jobs = {
    # The parameters are the pipelines' flags (`segmentflow run PIPELINE -h`,
    # infra/flex/PIPELINE/metadata.json); topics and subscriptions go by short
    # name within pubsub_project.
    classify = {
      max_workers = var.streaming.classify_max_worker
      parameters = {
        pipeline          = "classify"
        pubsub_project    = var.project
        subscription      = local.classify_subscription
        bigtable_project  = var.project
        bigtable_instance = var.bigtable.instance
        # Multi-cluster routing: a zone outage fails over, not stalls.
        bigtable_app_profile = var.bigtable.serving_app_profile
        users_table          = var.bigtable.users_table
        profiles_table       = var.bigtable.profiles_table
        rules_bucket         = var.buckets.rules
        activation_prefix    = local.names.topics.activation_prefix
        dlq_topic            = local.events_dlq_topic
        staging_location     = var.staging_location
      }
    }
    lake = {
      max_workers = var.streaming.lake_max_workers
      parameters = {
        pipeline         = "lake"
        pubsub_project   = var.project
        subscription     = local.lake_subscription
        lake             = local.lake_url
        roll_interval    = "10m"
        staging_location = var.staging_location
      }
    }
  }
}

resource "google_data_pipeline_pipeline" "streaming" {
  for_each = local.streaming_jobs

  project      = var.project
  region       = var.region
  name         = "segmentflow-${each.key}"
  display_name = "segmentflow-${each.key}"
  type         = "PIPELINE_TYPE_STREAMING"
  state        = "STATE_ACTIVE"

  workload {
    dataflow_flex_template_request {
      project_id = var.project
      location   = var.region

      launch_parameter {
        job_name                = "segmentflow-${each.key}"
        container_spec_gcs_path = "${var.template_prefix}${each.key}.json"
        parameters              = each.value.parameters
        # Redeploying a changed template updates the running job in place
        # (keeps its state) instead of starting a second one.
        update = true

        environment {
          service_account_email   = local.environment.service_account_email
          temp_location           = local.environment.temp_location
          subnetwork              = local.environment.subnetwork
          ip_configuration        = local.environment.ip_configuration
          machine_type            = var.streaming.machine_type
          max_workers             = each.value.max_workers
          enable_streaming_engine = true
          additional_user_labels  = merge(local.environment.additional_labels, { pipeline = each.key })
        }
      }
    }
  }
}
