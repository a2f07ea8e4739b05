#!/usr/bin/env bash
# make run: starts the example target (every leak and healthy pattern) and
# the collector built by `make collector`, then prints the target's groups,
# their growth and the leak flag from the collector's Prometheus endpoint
# every few seconds. Growth appears once the 2m leak window is half full.
#
#   RUN_SECONDS=60 make run    # stop by itself after a minute (default: Ctrl-C)
#   TARGET_PORT, PROMETHEUS_PORT, TELEMETRY_PORT choose the ports (6060,
#   9464, and 8888 for the collector's own telemetry).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
out=_build/run
mkdir -p "$out"
export TARGET_ENDPOINT="127.0.0.1:${TARGET_PORT:-6060}"
export PROMETHEUS_ENDPOINT="127.0.0.1:${PROMETHEUS_PORT:-9464}"
export TELEMETRY_PORT="${TELEMETRY_PORT:-8888}"
export STATE_DIR="$out/state" # the receiver's leak windows, across runs

go build -o "$out/leaktarget" ./cmd/leaktarget
pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true' EXIT INT TERM
"$out/leaktarget" -addr "$TARGET_ENDPOINT" -patterns all -rate 2 >"$out/leaktarget.log" 2>&1 &
pids+=($!)
_build/otelcol-goroutine --config examples/collector.yaml >"$out/collector.log" 2>&1 &
pids+=($!)

echo "example target: http://$TARGET_ENDPOINT/debug/pprof/ (log $out/leaktarget.log)"
echo "collector:      debug exporter output in $out/collector.log, with a log record"
echo "                (stack, creator, wait) for each group that turns suspected"
echo "prometheus:     http://$PROMETHEUS_ENDPOINT/metrics"
echo "telemetry:      http://127.0.0.1:$TELEMETRY_PORT/metrics (the receiver's own health)"
echo

deadline=$(( ${RUN_SECONDS:-0} > 0 ? SECONDS + RUN_SECONDS : 0 ))
while :; do
  sleep 6
  for p in "${pids[@]}"; do
    kill -0 "$p" 2>/dev/null || { echo "a process exited; see $out/*.log" >&2; exit 1; }
  done
  echo "== $(date +%T) groups of $TARGET_ENDPOINT: count, growth/min over the leak window, LEAK when suspected"
  curl -sf "http://$PROMETHEUS_ENDPOINT/metrics" | awk '
    function attr(line, name,   re) {
      re = name "=\"[^\"]*\""
      if (!match(line, re)) return ""
      return substr(line, RSTART + length(name) + 2, RLENGTH - length(name) - 3)
    }
    /^go_goroutine_group_/ {
      key = attr($0, "goroutine_signature") "|" attr($0, "goroutine_label_pattern")
      fn[key] = attr($0, "code_function_name"); wt[key] = attr($0, "goroutine_wait")
      pt[key] = attr($0, "goroutine_label_pattern"); sg[key] = attr($0, "goroutine_signature")
    }
    /^go_goroutine_group_count/              { cnt[key] = $NF }
    /^go_goroutine_group_growth/             { gr[key] = sprintf("%+8.1f", $NF) }
    /^go_goroutine_group_suspected/ && $NF == 1 { lk[key] = "LEAK" }
    /^go_goroutine_count/  { total = $NF }
    /^go_goroutine_growth/ { tgr = sprintf("%+8.1f", $NF) }
    END {
      for (k in cnt) {
        g = (k in gr) ? gr[k] : "       -"
        printf "%6d %s %-4s %-20s %-32s %-9s %s\n", cnt[k], g, lk[k], wt[k], fn[k], pt[k], sg[k]
      }
      printf "%6d %s      total\n", total, (tgr == "" ? "       -" : tgr)
    }' | sort -rn | head -25
  curl -sf "http://127.0.0.1:$TELEMETRY_PORT/metrics" | awk '
    /^otelcol_receiver_goroutine_scrapes\{/ { if ($0 ~ /outcome="success"/) ok += $NF; else failed += $NF }
    /^otelcol_receiver_goroutine_evidence_fetches\{/ && /evidence="dump"/ && /outcome="success"/ { dumps += $NF }
    /^otelcol_receiver_goroutine_groups_tracked\{/ { tracked += $NF }
    END { printf "receiver: %d scrapes ok, %d failed, %d dumps fetched, %d groups tracked\n", ok, failed, dumps, tracked }' || true
  if [ "$deadline" -gt 0 ] && [ "$SECONDS" -ge "$deadline" ]; then break; fi
done
