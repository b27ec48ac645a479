resource "google_bigtable_instance" "main" {
  project             = var.project
  name                = var.instance_name
  display_name        = var.instance_name
  deletion_protection = var.deletion_protection
  labels              = var.labels

  dynamic "cluster" {
    for_each = { for i, c in var.clusters : i => c }
    content {
      cluster_id   = "${var.instance_name}-c${cluster.key + 1}"
      zone         = cluster.value.zone
      storage_type = cluster.value.storage_type

      autoscaling_config {
        min_nodes  = cluster.value.min_nodes
        max_nodes  = cluster.value.max_nodes
        cpu_target = cluster.value.cpu_target
      }
    }
  }

  lifecycle {
    # Autoscaling changes num_nodes behind terraform's back.
    ignore_changes = [cluster[0].num_nodes, cluster[1].num_nodes]
  }
}

# Serving traffic (classify, profiles API): any cluster, so a zone outage
# fails over without a config change. Eventually consistent, which the merge
# policy tolerates (merges are order-independent and idempotent).
resource "google_bigtable_app_profile" "serving" {
  project                       = var.project
  instance                      = google_bigtable_instance.main.name
  app_profile_id                = "serving"
  description                   = "classify pipeline and profile API: multi-cluster routing"
  multi_cluster_routing_use_any = true
  ignore_warnings               = true
}

# Batch rebuilds (stats, replay) scan and write whole tables: pinned to the
# second cluster so they never take CPU from serving reads on the first.
resource "google_bigtable_app_profile" "batch" {
  project         = var.project
  instance        = google_bigtable_instance.main.name
  app_profile_id  = "batch"
  description     = "stats and replay pipelines: single-cluster routing to the second cluster"
  ignore_warnings = true

  single_cluster_routing {
    cluster_id                 = "${var.instance_name}-c2"
    allow_transactional_writes = false
  }

  depends_on = [google_bigtable_instance.main]
}
