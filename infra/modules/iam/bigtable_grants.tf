locals {
  table_grants = {
    "dataflow users"    = { table = var.bigtable.users_table, account = "dataflow", role = "roles/bigtable.user" }
    "dataflow profiles" = { table = var.bigtable.profiles_table, account = "dataflow", role = "roles/bigtable.user" }
    "profiles profiles" = { table = var.bigtable.profiles_table, account = "profiles", role = "roles/bigtable.reader" }
  }
}

resource "google_bigtable_table_iam_member" "table" {
  for_each = local.table_grants

  project       = var.project
  instance_name = var.bigtable.instance
  table         = each.value.table
  role          = each.value.role
  member        = local.member[each.value.account]
}
