# Example values: replace with your project's (terraform plan in make
# infra-check uses them with a fake token).
project          = "segmentflow-prod"
project_number   = "100000000002"
region           = "europe-west4"
standby_region   = "europe-west1"
lake_location    = "EUR4"
subnetwork       = "regions/europe-west4/subnetworks/dataflow"
bigtable_zones   = ["europe-west4-a", "europe-west4-b"]
image            = "europe-west4-docker.pkg.dev/segmentflow-prod/segmentflow/segmentflow:v1"
partners         = ["dsp-a", "dmp-b"]
domains          = ["track.segmentflow.example"]
profile_invokers = ["serviceAccount:adserver@segmentflow-prod.iam.gserviceaccount.com"]
vendor_sources   = { webinar = "*/15 * * * *" }
