#!/usr/bin/env bash
# Runs `segmentflow local` for a while and samples its memory once a minute:
# the process's resident set (VmRSS) and the status line's Go heap, plus the
# status line itself, so runs with and without a memory bound can be put side
# by side (docs/local.md, "Memory over hours"). Then Ctrl-C (SIGINT) and the
# shutdown's last status line and exit code.
#
#   bench/local/soak.sh MINUTES [local flags...]
#   bench/local/soak.sh 9 --generate 500 --pubsub-purge 0
#
# Build bin/segmentflow first (go build -o bin/segmentflow ./cmd/segmentflow);
# run from the repository root (the example rule set is read from testdata).
set -euo pipefail
minutes="${1:?usage: soak.sh MINUTES [local flags...]}"
shift
bin="${SEGMENTFLOW:-bin/segmentflow}"
out="$(mktemp -d)"
"$bin" local "$@" >"$out/status" 2>"$out/log" &
pid=$!
trap 'kill -INT $pid 2>/dev/null || true' EXIT
echo "# pid $pid, logs in $out; flags: $*"
printf '%-4s %-9s %-8s %s\n' min rss_mb heap_mb status
for ((m = 1; m <= minutes; m++)); do
  sleep 60
  kill -0 "$pid" 2>/dev/null || { echo "segmentflow local exited early; see $out/log" >&2; exit 1; }
  rss=$(awk '/^VmRSS:/ {printf "%d", $2/1024}' "/proc/$pid/status")
  line="$(tail -n 1 "$out/status")"
  heap="$(sed -n 's/.*heap \([0-9]*\) MB.*/\1/p' <<<"$line")"
  printf '%-4s %-9s %-8s %s\n' "$m" "$rss" "$heap" "$line"
done
echo "# load: $(uptime)"
kill -INT "$pid"
trap - EXIT
rc=0
wait "$pid" || rc=$?
echo "# exit $rc; last status: $(tail -n 1 "$out/status")"
grep -c -E 'level=(WARN|ERROR)' "$out/log" | sed 's/^/# warn+error log lines: /' || true
