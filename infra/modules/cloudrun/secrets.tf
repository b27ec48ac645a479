# Secret values are added out of band (gcloud secrets versions add); terraform
# only creates the containers and who may read them.
locals {
  secrets = merge(
    {
      "segmentflow-write-keys"   = "collector"
      "segmentflow-rules-tokens" = "rules"
    },
    { for p in var.partners : "segmentflow-partner-${p}-hmac" => "activate" },
  )
}

resource "google_secret_manager_secret" "secret" {
  for_each = local.secrets

  project   = var.project
  secret_id = each.key
  labels    = var.labels

  replication {
    auto {}
  }
}

resource "google_secret_manager_secret_iam_member" "accessor" {
  for_each = local.secrets

  project   = var.project
  secret_id = google_secret_manager_secret.secret[each.key].secret_id
  role      = "roles/secretmanager.secretAccessor"
  member    = "serviceAccount:${var.service_accounts[each.value]}"
}
