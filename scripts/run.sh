#!/usr/bin/env bash
# make run: starts the example target (every leak and healthy pattern) and
# the collector built by `make collector`, then prints the target's groups
# from the collector's Prometheus endpoint every few seconds.
#
#   RUN_SECONDS=60 make run    # stop by itself after a minute (default: Ctrl-C)
#   TARGET_PORT, PROMETHEUS_PORT choose the ports (6060, 9464).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
out=_build/run
mkdir -p "$out"
export TARGET_ENDPOINT="127.0.0.1:${TARGET_PORT:-6060}"
export PROMETHEUS_ENDPOINT="127.0.0.1:${PROMETHEUS_PORT:-9464}"

go build -o "$out/leaktarget" ./cmd/leaktarget
pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true' EXIT INT TERM
"$out/leaktarget" -addr "$TARGET_ENDPOINT" -patterns all -rate 2 >"$out/leaktarget.log" 2>&1 &
pids+=($!)
_build/otelcol-goroutine --config examples/collector.yaml >"$out/collector.log" 2>&1 &
pids+=($!)

echo "example target: http://$TARGET_ENDPOINT/debug/pprof/ (log $out/leaktarget.log)"
echo "collector:      debug exporter output in $out/collector.log"
echo "prometheus:     http://$PROMETHEUS_ENDPOINT/metrics"
echo

deadline=$(( ${RUN_SECONDS:-0} > 0 ? SECONDS + RUN_SECONDS : 0 ))
while :; do
  sleep 6
  for p in "${pids[@]}"; do
    kill -0 "$p" 2>/dev/null || { echo "a process exited; see $out/*.log" >&2; exit 1; }
  done
  echo "== $(date +%T) goroutine groups of $TARGET_ENDPOINT (count, wait, stuck in, pattern, signature)"
  curl -sf "http://$PROMETHEUS_ENDPOINT/metrics" | awk '
    /^go_goroutine_group_count/ {
      line = $0; val = $NF
      match(line, /code_function_name="[^"]*"/); fn = substr(line, RSTART+20, RLENGTH-21)
      match(line, /goroutine_wait="[^"]*"/);     wt = substr(line, RSTART+16, RLENGTH-17)
      match(line, /goroutine_label_pattern="[^"]*"/); pt = substr(line, RSTART+25, RLENGTH-26)
      match(line, /goroutine_signature="[^"]*"/); sg = substr(line, RSTART+21, RLENGTH-22)
      printf "%6d  %-20s %-34s %-9s %s\n", val, wt, fn, pt, sg
    }
    /^go_goroutine_count/ { total = $NF }
    END { printf "%6d  total\n", total }' | sort -rn | head -25
  if [ "$deadline" -gt 0 ] && [ "$SECONDS" -ge "$deadline" ]; then break; fi
done
