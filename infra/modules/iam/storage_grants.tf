locals {
  names = jsondecode(file("${path.module}/../../names.json"))

  # An IAM condition limiting a grant to one object prefix of a bucket.
  prefix_condition = {
    for k, v in {
      collector_failover  = { bucket = var.buckets.lake, prefix = local.names.lake_prefixes.failover }
      collector_badrows   = { bucket = var.buckets.lake, prefix = local.names.lake_prefixes.badrows }
      activate_deadletter = { bucket = var.buckets.lake, prefix = local.names.lake_prefixes.deadletter }
    } : k => "resource.name.startsWith(\"projects/_/buckets/${v.bucket}/objects/${v.prefix}\")"
  }

  bucket_grants = {
    "collector lake failover"  = { bucket = var.buckets.lake, account = "collector", role = "roles/storage.objectCreator", condition = "collector_failover" }
    "collector lake badrows"   = { bucket = var.buckets.lake, account = "collector", role = "roles/storage.objectCreator", condition = "collector_badrows" }
    "collector failover"       = { bucket = var.buckets.failover, account = "collector", role = "roles/storage.objectCreator", condition = "" }
    "rules rules"              = { bucket = var.buckets.rules, account = "rules", role = "roles/storage.objectUser", condition = "" }
    "activate lake deadletter" = { bucket = var.buckets.lake, account = "activate", role = "roles/storage.objectUser", condition = "activate_deadletter" }
    "dataflow lake"            = { bucket = var.buckets.lake, account = "dataflow", role = "roles/storage.objectUser", condition = "" }
    "dataflow rules"           = { bucket = var.buckets.rules, account = "dataflow", role = "roles/storage.objectViewer", condition = "" }
    "dataflow failover"        = { bucket = var.buckets.failover, account = "dataflow", role = "roles/storage.objectViewer", condition = "" }
    "dataflow artifacts"       = { bucket = var.buckets.artifacts, account = "dataflow", role = "roles/storage.objectUser", condition = "" }
    "orchestrator artifacts"   = { bucket = var.buckets.artifacts, account = "orchestrator", role = "roles/storage.objectViewer", condition = "" }
  }
}

resource "google_storage_bucket_iam_member" "bucket" {
  for_each = local.bucket_grants

  bucket = each.value.bucket
  role   = each.value.role
  member = local.member[each.value.account]

  dynamic "condition" {
    for_each = each.value.condition == "" ? [] : [each.value.condition]
    content {
      title      = condition.value
      expression = local.prefix_condition[condition.value]
    }
  }
}
