#!/usr/bin/env bash
# Regenerates internal/index/testdata/*.html: the /debug/pprof/ page of the
# example target, a real Go process, built with Go 1.26 (go1.26.html), with
# Go 1.26 and GOEXPERIMENT=goroutineleakprofile (go1.26-leakprofile.html)
# and with Go 1.27, which serves the leak profile by default (go1.27.html;
# the go command fetches the go1.27.3 toolchain from the module proxy).
#
#   scripts/capture-index.sh
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out="$root/internal/index/testdata"
tmp=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$tmp"; }
trap cleanup EXIT
mkdir -p "$out"

# capture NAME ENV...: builds the target with the environment given, runs
# it on a free port and saves its index page.
capture() {
  local name=$1; shift
  (cd "$root" && env "$@" go build -trimpath -o "$tmp/$name" ./cmd/leaktarget)
  "$tmp/$name" -addr 127.0.0.1:0 -patterns fanout >"$tmp/$name.log" 2>&1 &
  pids+=($!)
  local addr=""
  for _ in $(seq 50); do
    addr=$(sed -n 's#^leaktarget serving \(http://[^/]*\)/.*#\1#p' "$tmp/$name.log")
    [ -n "$addr" ] && break
    sleep 0.1
  done
  [ -n "$addr" ] || { echo "leaktarget $name did not start" >&2; cat "$tmp/$name.log" >&2; return 1; }
  sleep 1
  curl -sf "$addr/debug/pprof/" -o "$out/$name.html"
}

capture go1.26 GOTOOLCHAIN=local
capture go1.26-leakprofile GOTOOLCHAIN=local GOEXPERIMENT=goroutineleakprofile
capture go1.27 GOTOOLCHAIN=go1.27.3
