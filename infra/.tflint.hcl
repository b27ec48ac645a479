# tflint for every env and module (make infra-check). Offline: only the
# terraform ruleset bundled in the tflint binary, no plugin downloads.
config {
  call_module_type = "local"
}

plugin "terraform" {
  enabled = true
  preset  = "all"
}
