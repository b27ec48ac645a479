# Example values: replace with your project's (terraform plan in make
# infra-check uses them with a fake token).
project        = "segmentflow-dev"
project_number = "100000000001"
region         = "europe-west1"
standby_region = "europe-west4"
bigtable_zones = ["europe-west1-b", "europe-west1-c"]
image          = "europe-west1-docker.pkg.dev/segmentflow-dev/segmentflow/segmentflow:latest"
partners       = ["dsp-a", "dmp-b"]
domains        = ["track.dev.segmentflow.example"]
vendor_sources = { webinar = "0 * * * *" }
