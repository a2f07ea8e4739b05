#!/usr/bin/env bash
# Draws docs/chart.svg, the README's picture, from a real run: the example
# target with two leaks and three healthy patterns, scraped every 2 s by the
# collector `make collector` builds (leak window 2m), whose prometheus
# exporter is read every 2 s for CHART_SECONDS (default 240). The recording
# stays in _build/chart/samples.txt; cmd/chart turns it into the SVG.
#
#   scripts/chart.sh                 # about 4 minutes
#   CHART_SECONDS=600 scripts/chart.sh
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
out=_build/chart
mkdir -p "$out" docs
[ -x _build/otelcol-goroutine ] || make collector
go build -o "$out/leaktarget" ./cmd/leaktarget

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
target="127.0.0.1:$(free_port)"
exporter="127.0.0.1:$(free_port)"
cat >"$out/collector.yaml" <<YAML
receivers:
  goroutine:
    endpoint: $target
    collection_interval: 2s
    timeout: 1s
    labels: [pattern]
    leak:
      window: 2m
exporters:
  prometheus:
    endpoint: $exporter
service:
  telemetry:
    metrics:
      level: none
  pipelines:
    metrics:
      receivers: [goroutine]
      exporters: [prometheus]
YAML

pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true' EXIT INT TERM
"$out/leaktarget" -addr "$target" -patterns fanout,janitor,pool,burst,growpool -rate 1 >"$out/leaktarget.log" 2>&1 &
pids+=($!)
_build/otelcol-goroutine --config "$out/collector.yaml" >"$out/collector.log" 2>&1 &
pids+=($!)

: >"$out/samples.txt"
end=$(( SECONDS + ${CHART_SECONDS:-240} ))
while [ "$SECONDS" -lt "$end" ]; do
  sleep 2
  for p in "${pids[@]}"; do
    kill -0 "$p" 2>/dev/null || { echo "a process exited; see $out/*.log" >&2; exit 1; }
  done
  if metrics=$(curl -sf "http://$exporter/metrics"); then
    { echo "# at $(date +%s.%N)"; grep '^go_goroutine_group_' <<<"$metrics" || true; } >>"$out/samples.txt"
  fi
done
go run ./cmd/chart -in "$out/samples.txt" -out docs/chart.svg -leaks fanout,janitor
echo "wrote docs/chart.svg from $(grep -c '^# at' "$out/samples.txt") snapshots"
