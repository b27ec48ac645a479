# Nightly batch: reconcile (raw + failover -> deduped Parquet by event time)
# of the last reconcile_days event dates, then stats (Parquet -> users.stats).
# A Workflow chains them, because stats must read what reconcile wrote; Cloud
# Scheduler starts the Workflow.
resource "google_workflows_workflow" "nightly" {
  project         = var.project
  region          = var.region
  name            = "segmentflow-nightly"
  description     = "reconcile, then stats, on Dataflow"
  service_account = var.service_accounts.orchestrator
  call_log_level  = "LOG_ERRORS_ONLY"

  source_contents = templatefile("${path.module}/nightly.workflow.yaml", {
    project         = var.project
    region          = var.region
    template_prefix = var.template_prefix
    environment = jsonencode({
      serviceAccountEmail  = var.service_accounts.dataflow
      tempLocation         = var.temp_location
      subnetwork           = var.subnetwork
      ipConfiguration      = "WORKER_IP_PRIVATE"
      machineType          = var.batch_machine_type
      maxWorkers           = var.batch_max_workers
      additionalUserLabels = local.environment.additional_labels
    })
    # The workflow adds date (the first of the last reconcile_days event
    # dates) to these; the lake's own failover/ tree is read by default.
    reconcile = jsonencode({
      pipeline         = "reconcile"
      lake             = local.lake_url
      failover         = local.failover_url
      days             = tostring(var.reconcile_days)
      staging_location = var.staging_location
    })
    reconcile_days = var.reconcile_days
    stats = jsonencode({
      pipeline             = "stats"
      input                = "${local.lake_url}${local.names.lake_prefixes.events}"
      bigtable_project     = var.project
      bigtable_instance    = var.bigtable.instance
      bigtable_app_profile = var.bigtable.batch_app_profile
      users_table          = var.bigtable.users_table
      staging_location     = var.staging_location
    })
  })
}

resource "google_cloud_scheduler_job" "nightly" {
  project     = var.project
  region      = var.region
  name        = "segmentflow-nightly"
  description = "starts the reconcile -> stats workflow"
  schedule    = var.reconcile_schedule
  time_zone   = "Etc/UTC"

  retry_config {
    retry_count = 3
  }

  http_target {
    http_method = "POST"
    uri         = "https://workflowexecutions.googleapis.com/v1/${google_workflows_workflow.nightly.id}/executions"
    body        = base64encode(jsonencode({ argument = jsonencode({}) }))

    oauth_token {
      service_account_email = var.service_accounts.orchestrator
      scope                 = "https://www.googleapis.com/auth/cloud-platform"
    }
  }
}

# Replay (lake events -> profiles, e.g. after a rules change) is on demand:
# `gcloud workflows run segmentflow-replay --data='{"since":"2026-11-01"}'`.
resource "google_workflows_workflow" "replay" {
  project         = var.project
  region          = var.region
  name            = "segmentflow-replay"
  description     = "replay the lake through the current rules into profiles"
  service_account = var.service_accounts.orchestrator
  call_log_level  = "LOG_ERRORS_ONLY"

  source_contents = templatefile("${path.module}/replay.workflow.yaml", {
    project       = var.project
    region        = var.region
    template_path = "${var.template_prefix}replay.json"
    environment = jsonencode({
      serviceAccountEmail  = var.service_accounts.dataflow
      tempLocation         = var.temp_location
      subnetwork           = var.subnetwork
      ipConfiguration      = "WORKER_IP_PRIVATE"
      machineType          = var.batch_machine_type
      maxWorkers           = var.batch_max_workers
      additionalUserLabels = local.environment.additional_labels
    })
    replay = jsonencode({
      pipeline             = "replay"
      input                = "${local.lake_url}${local.names.lake_prefixes.events}"
      bigtable_project     = var.project
      bigtable_instance    = var.bigtable.instance
      bigtable_app_profile = var.bigtable.batch_app_profile
      users_table          = var.bigtable.users_table
      profiles_table       = var.bigtable.profiles_table
      rules                = "gs://${var.buckets.rules}/${local.names.rules_objects.current}"
      staging_location     = var.staging_location
    })
  })
}

# Vendor pulls are independent batch jobs: scheduled Data Pipelines (the
# pipeline resumes from the last pulled window's end, see DESIGN.md).
resource "google_data_pipeline_pipeline" "vendorpull" {
  for_each = var.vendor_sources

  project                         = var.project
  region                          = var.region
  name                            = "segmentflow-vendorpull-${each.key}"
  display_name                    = "segmentflow-vendorpull-${each.key}"
  type                            = "PIPELINE_TYPE_BATCH"
  state                           = "STATE_ACTIVE"
  scheduler_service_account_email = var.service_accounts.orchestrator

  schedule_info {
    schedule  = each.value
    time_zone = "Etc/UTC"
  }

  workload {
    dataflow_flex_template_request {
      project_id = var.project
      location   = var.region

      launch_parameter {
        job_name                = "segmentflow-vendorpull-${each.key}"
        container_spec_gcs_path = "${var.template_prefix}vendorpull.json"
        parameters = {
          pipeline         = "vendorpull"
          source           = each.key
          output           = "${local.lake_url}${local.names.lake_prefixes.vendor}${each.key}/"
          staging_location = var.staging_location
        }

        environment {
          service_account_email  = local.environment.service_account_email
          temp_location          = local.environment.temp_location
          subnetwork             = local.environment.subnetwork
          ip_configuration       = local.environment.ip_configuration
          machine_type           = var.batch_machine_type
          max_workers            = 2
          additional_user_labels = merge(local.environment.additional_labels, { pipeline = "vendorpull" })
        }
      }
    }
  }
}
