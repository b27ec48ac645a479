#!/usr/bin/env bash
# Builds a copy of the Pub/Sub module whose fake server (pstest) can forget
# settled messages, and adds it to the git-ignored go.work next to the
# patched Beam (tools/prism-patch.sh runs this). pstest keeps every message
# ever published in GServer.msgs/msgsByID, so a `segmentflow local` running
# for hours grows without bound; tools/_pstest/forget_settled.go adds
# (*Server).ForgetSettled, which emulators calls on a timer. No upstream line
# is edited, only a file added, so the patch survives upgrades unless
# pstest renames the fields it reads (the build then fails loudly).
#
# Mirrored like the Beam module: symlinks for the read-only module cache,
# with only the pstest package copied for real.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
source "$root/tools/mirror-module.sh"

mod=cloud.google.com/go/pubsub/v2
ver="$(GOWORK=off go list -m -f '{{.Version}}' "$mod")"
[[ -n "$ver" ]] || { echo "pstest-patch: cannot tell the version of $mod from go.mod" >&2; exit 1; }
dest="$root/.cache/pubsub-patched/$ver"
stamp="$dest/.segmentflow-patched"
patch="$root/tools/_pstest/forget_settled.go"

if [[ ! -f "$stamp" || "$patch" -nt "$stamp" ]]; then
  mirror_module pstest-patch "$mod" "$ver" "$dest" pstest
  cp "$patch" "$dest/pstest/segmentflow_forget_settled.go"
  touch "$stamp"
  echo "pstest-patch: using Pub/Sub $ver with ForgetSettled from ${dest#$root/}"
fi
# prism-patch.sh rewrites go.work from scratch, so add the module back
# whenever it is missing; otherwise stay instant for warm builds.
if ! grep -q "$dest" go.work 2>/dev/null; then
  [[ -f go.work ]] || go work init .
  go work use "$dest"
fi
