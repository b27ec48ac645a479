# The one definition of resource names, shared with the Go code (infra.Default()).
locals {
  names = jsondecode(file("${path.module}/../../names.json"))
}
