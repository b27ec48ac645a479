# tflint for every env and module (make infra-check). Offline: only the
# terraform ruleset bundled in the tflint binary, no plugin downloads.
config {
  call_module_type = "local"
}

plugin "terraform" {
  enabled = true
  preset  = "all"
}

# Modules are split one resource kind per file (instance.tf, tables.tf, gc.tf)
# rather than one main.tf, so the structure rule's main.tf demand does not fit.
rule "terraform_standard_module_structure" {
  enabled = false
}
