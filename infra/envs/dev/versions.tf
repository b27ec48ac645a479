terraform {
  required_version = ">= 1.5.0"
  required_providers {
    google = {
      source = "hashicorp/google"
      # Built from source into the filesystem mirror by `make infra-check`
      # (DEVELOPERS.md); the same constraint matches the registry release.
      version = "~> 8.0"
    }
  }
}
