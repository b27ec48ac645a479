#!/usr/bin/env bash
# Builds a patched copy of the Beam Go SDK module and points a git-ignored
# go.work at it, so every go command in this checkout runs prism without its
# busy-wait (see README, "The prism patch"). Drop this step once upstream
# stops spinning in stage.Execute after the bundle's data channel closes.
#
# The module cache is read-only and go refuses -overlay there, and //go:embed
# refuses symlinked files, so the module is mirrored as a tree of symlinks
# with only the prism package copied for real and patched.
#
# It ends by running tools/pstest-patch.sh (the Pub/Sub fake's memory bound),
# which adds its module to the same go.work.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
source "$root/tools/mirror-module.sh"

mod=github.com/apache/beam/sdks/v2
ver="$(GOWORK=off go list -m -f '{{.Version}}' "$mod")"
[[ -n "$ver" ]] || { echo "prism-patch: cannot tell the version of $mod from go.mod" >&2; exit 1; }
dest="$root/.cache/beam-patched/$ver"
stamp="$dest/.segmentflow-patched"
if [[ -f "$stamp" && -f go.work ]] && grep -q "$dest" go.work; then
  exec "$root/tools/pstest-patch.sh" # Beam already done: keep warm builds fast
fi

prism="go/pkg/beam/runners/prism"
mirror_module prism-patch "$mod" "$ver" "$dest" "$prism"

stage="$dest/$prism/internal/stage.go"
# The one-line change: once dataReady is closed, stop selecting on it.
awk '
  /case <-dataReady:/ { inready = 1; print; next }
  inready && /^[[:space:]]*dataFinished = true$/ {
    print; match($0, /^[[:space:]]*/); print substr($0, 1, RLENGTH) "dataReady = nil // segmentflow: stop the busy-wait on a closed channel"
    patched++; inready = 0; next
  }
  { inready = 0; print }
  END { if (patched != 1) exit 3 }
' "$stage" > "$stage.new" || {
  echo "prism-patch: the line to patch (case <-dataReady: / dataFinished = true) was not found in $stage;" >&2
  echo "prism-patch: Beam $ver changed stage.Execute. Check whether upstream fixed the busy-wait and update tools/prism-patch.sh." >&2
  rm -f "$stage.new"; exit 1
}
mv "$stage.new" "$stage"
gofmt -l "$stage" >/dev/null

rm -f go.work go.work.sum
go work init . "$dest"
touch "$stamp"
echo "prism-patch: using patched Beam $ver from ${dest#$root/}"
exec "$root/tools/pstest-patch.sh"
