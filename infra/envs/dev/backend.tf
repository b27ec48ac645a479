# State in a GCS bucket (versioned, created once by hand, see infra/README.md).
# Partial configuration: pass the bucket at init time,
#   terraform init -backend-config="bucket=MY-STATE-BUCKET"
terraform {
  backend "gcs" {
    prefix = "segmentflow/dev"
  }
}
