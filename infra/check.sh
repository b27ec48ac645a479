#!/usr/bin/env bash
# Offline checks of the terraform in infra/ (`make infra-check`, part of
# `make test`): fmt, init against a local provider mirror, validate, tflint,
# and a plan with a fake token. Tools are built from the Go module proxy into
# the git-ignored .cache/ once; a stamp per tool version skips the rebuild.
# See DEVELOPERS.md.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="${CACHE:-$ROOT/.cache}"
BIN="$CACHE/bin"
STAMPS="$CACHE/stamp"
TFCACHE="$CACHE/terraform"

TERRAFORM_VERSION=v1.5.7
TFLINT_VERSION=v0.64.0
PROVIDER_MODULE=github.com/hashicorp/terraform-provider-google
# The provider commit (2 days after the 8.0.0 release) that the module proxy
# serves under a pseudo-version; the mirror lists it as 8.0.0, which is what
# the envs' "~> 8.0" constraint resolves to.
PROVIDER_REF=v1.20.1-0.20260828184646-f3721fb45fa3
PROVIDER_VERSION=8.0.0
# INFRA_PLAN=0 skips the plan step.
INFRA_PLAN="${INFRA_PLAN:-1}"

log() { printf 'infra-check: %s\n' "$*" >&2; }

# tool NAME MODULE VERSION: go install MODULE@VERSION into $BIN unless the
# stamp of that exact version is there.
tool() {
  local name="$1" module="$2" version="$3"
  local stamp="$STAMPS/$name@$version"
  if [[ -f "$stamp" && -x "$BIN/$name" ]]; then
    return
  fi
  log "building $name $version (once; the google provider takes ~5-10 minutes)"
  mkdir -p "$BIN" "$STAMPS"
  # Outside the repo and its go.work: a tool's go.mod, not ours, decides its deps.
  (cd / && GOWORK=off GOFLAGS=-buildvcs=false GOBIN="$BIN" go install "$module@$version")
  rm -f "$STAMPS/$name@"*
  touch "$stamp"
}

tool terraform github.com/hashicorp/terraform "$TERRAFORM_VERSION"
tool tflint github.com/terraform-linters/tflint "$TFLINT_VERSION"
tool terraform-provider-google "$PROVIDER_MODULE" "$PROVIDER_REF"

# Filesystem mirror in the unpacked layout terraform expects:
# HOST/NAMESPACE/TYPE/VERSION/OS_ARCH/terraform-provider-TYPE_vVERSION
platform="$(go env GOOS)_$(go env GOARCH)"
mirror="$TFCACHE/mirror"
pdir="$mirror/registry.terraform.io/hashicorp/google/$PROVIDER_VERSION/$platform"
pbin="$pdir/terraform-provider-google_v$PROVIDER_VERSION"
if [[ ! "$pbin" -ef "$BIN/terraform-provider-google" ]]; then
  rm -rf "$mirror/registry.terraform.io/hashicorp/google"
  mkdir -p "$pdir"
  ln -f "$BIN/terraform-provider-google" "$pbin" 2>/dev/null || cp "$BIN/terraform-provider-google" "$pbin"
fi

export TF_CLI_CONFIG_FILE="$TFCACHE/terraformrc"
cat >"$TF_CLI_CONFIG_FILE" <<RC
# Written by infra/check.sh: providers come only from the local mirror.
provider_installation {
  filesystem_mirror {
    path    = "$mirror"
    include = ["registry.terraform.io/hashicorp/google"]
  }
}
RC
export CHECKPOINT_DISABLE=1 TF_IN_AUTOMATION=1 TF_INPUT=0
tf="$BIN/terraform"

cd "$ROOT/infra"

log "terraform fmt -check"
"$tf" fmt -check -recursive -diff .

for env in envs/*/; do
  env="${env%/}"
  name="$(basename "$env")"
  export TF_DATA_DIR="$TFCACHE/data/$name"
  log "$env: init -backend=false, validate"
  "$tf" -chdir="$env" init -backend=false -input=false -no-color >"$TFCACHE/init-$name.log" 2>&1 ||
    { cat "$TFCACHE/init-$name.log" >&2; exit 1; }
  "$tf" -chdir="$env" validate -no-color
done
unset TF_DATA_DIR

for dir in envs/*/ modules/*/; do
  dir="${dir%/}"
  log "$dir: tflint"
  "$BIN/tflint" --chdir="$dir" --config="$ROOT/infra/.tflint.hcl" --no-color
done

if [[ "$INFRA_PLAN" == 1 ]]; then
  # A plan needs an initialised backend: plan a copy of the tree whose envs
  # use a local backend, so the real gcs backend block stays untouched.
  src="$TFCACHE/plan-src"
  rm -rf "$src"
  mkdir -p "$src"
  (cd "$ROOT" && find infra \( -name .terraform -prune \) -o \( -type f \( -name '*.tf' -o -name '*.tfvars' -o -name '*.json' -o -name '*.yaml' \) -print \) |
    while read -r f; do mkdir -p "$src/$(dirname "$f")" && cp "$f" "$src/$f"; done)
  for env in "$src"/infra/envs/*/; do
    env="${env%/}"
    name="$(basename "$env")"
    cat >"$env/backend_override.tf" <<'OV'
terraform {
  backend "local" {}
}
OV
    export TF_DATA_DIR="$TFCACHE/plan-data/$name"
    "$tf" -chdir="$env" init -input=false -no-color >"$TFCACHE/plan-init-$name.log" 2>&1 ||
      { cat "$TFCACHE/plan-init-$name.log" >&2; exit 1; }
    # No credentials and no network: a fake token, no refresh (nothing to
    # refresh in an empty state), so the provider never calls Google.
    if ! GOOGLE_OAUTH_ACCESS_TOKEN=fake "$tf" -chdir="$env" plan -refresh=false -lock=false -input=false -no-color \
      -out="$TFCACHE/plan-$name.tfplan" >"$TFCACHE/plan-$name.log" 2>&1; then
      cat "$TFCACHE/plan-$name.log" >&2
      exit 1
    fi
    log "envs/$name: $(grep -E '^Plan: ' "$TFCACHE/plan-$name.log")"
  done
  unset TF_DATA_DIR
fi

log "ok"
