#!/usr/bin/env bash
# Regenerates testdata/profiles/*.pb.gz from the example target, a real Go
# process: every pattern at once (leaktarget.pb.gz), and a target scraped
# twice, some seconds apart, while only the fan-out leak runs
# (fanout-1.pb.gz, fanout-2.pb.gz).
#
#   scripts/capture-profiles.sh
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out="$root/testdata/profiles"
tmp=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$tmp"; }
trap cleanup EXIT
mkdir -p "$out"
(cd "$root" && go build -trimpath -o "$tmp/leaktarget" ./cmd/leaktarget)

# start NAME ARGS...: runs the target on a free port and sets $addr.
start() {
  local name=$1; shift
  "$tmp/leaktarget" -addr 127.0.0.1:0 "$@" >"$tmp/$name.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 50); do
    addr=$(sed -n 's#^leaktarget serving \(http://[^/]*\)/.*#\1#p' "$tmp/$name.log")
    [ -n "$addr" ] && return 0
    sleep 0.1
  done
  echo "leaktarget $name did not start" >&2; cat "$tmp/$name.log" >&2; return 1
}

start all -patterns all -rate 10
# 3.5s: each pattern has run, and a burst (2s of every 3s) is under way.
sleep 3.5
curl -sf "$addr/debug/pprof/goroutine" -o "$out/leaktarget.pb.gz"

start fanout -patterns fanout -rate 20
sleep 1
curl -sf "$addr/debug/pprof/goroutine" -o "$out/fanout-1.pb.gz"
sleep 2
curl -sf "$addr/debug/pprof/goroutine" -o "$out/fanout-2.pb.gz"
ls -l "$out"
