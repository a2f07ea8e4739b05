#!/usr/bin/env bash
# Regenerates testdata/dumps from real Go processes: the example target built
# with GOEXPERIMENT=goroutineleakprofile, running every pattern, captured
# as a debug=0 profile, a goroutineleak profile and then a debug=2 dump
# (after the leak profile's collection marked the proven leaks "(leaked)");
# the same target under GOTRACEBACK=system and GODEBUG=tracebacklabels=1
# (labels in headers); cmd/stackfarm with 120-frame stacks (elided frames);
# cmd/stackfarm's crash traceback under GOTRACEBACK=system (gp= headers,
# runtime frames); a Go 1.27 module's dump (labels after the brackets);
# cmd/libtarget's library misuses, built with -trimpath and run under
# GODEBUG=tracebackancestors=5, and built plainly and run without it
# (module cache and GOROOT paths, no ancestry); and testdata/ancestry's
# generic functions and cut ancestry.
#
#   scripts/capture-dumps.sh
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out="$root/testdata/dumps"
tmp=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$tmp"; }
trap cleanup EXIT
mkdir -p "$out"
(cd "$root" && GOEXPERIMENT=goroutineleakprofile go build -trimpath -o "$tmp/leaktarget" ./cmd/leaktarget)
(cd "$root" && go build -trimpath -o "$tmp/stackfarm" ./cmd/stackfarm)
(cd "$root/cmd/libtarget" && go build -trimpath -o "$tmp/libtarget-trimpath" . && go build -o "$tmp/libtarget" .)

# start NAME BIN ARGS...: runs a target on a free port and sets $addr.
start() {
  local name=$1 bin=$2; shift 2
  "$bin" -addr 127.0.0.1:0 "$@" >"$tmp/$name.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 50); do
    addr=$(sed -n 's#^[a-z]* serving \(http://[^/]*\)/.*#\1#p' "$tmp/$name.log")
    [ -n "$addr" ] && return 0
    sleep 0.1
  done
  echo "$name did not start" >&2; cat "$tmp/$name.log" >&2; return 1
}

start all "$tmp/leaktarget" -patterns all -rate 10 -requests 20
sleep 3.5
curl -sf "$addr/debug/pprof/goroutine" -o "$out/leaktarget.pb.gz"
curl -sf "$addr/debug/pprof/goroutineleak" -o "$out/leaktarget-leak.pb.gz"
curl -sf "$addr/debug/pprof/goroutine?debug=2" -o "$out/leaktarget.txt"

GOTRACEBACK=system start system "$tmp/leaktarget" -patterns fanout,mutex -rate 10 -requests 5
sleep 1
curl -sf "$addr/debug/pprof/goroutine?debug=2" -o "$out/gotraceback-system.txt"

GODEBUG=tracebacklabels=1 start labels "$tmp/leaktarget" -patterns fanout,pool -rate 10 -requests 5
sleep 1
curl -sf "$addr/debug/pprof/goroutine?debug=2" -o "$out/labels.txt"

start deep "$tmp/stackfarm" -stacks 3 -depth 120
curl -sf "$addr/debug/pprof/goroutine?debug=2" -o "$out/deep.txt"

# A crash traceback: the same form, with gp= headers; the panic message
# before the first goroutine is cut off.
GOTRACEBACK=system "$tmp/stackfarm" -stacks 3 -depth 12 -crash 2>"$tmp/crash.txt" || true
sed -n '/^goroutine /,$p' "$tmp/crash.txt" >"$out/crash-system.txt"

# A module whose go.mod says Go 1.27, run by Go 1.27 (fetched from the
# module proxy): its dump puts labels after the brackets by default.
(cd "$root/testdata/go127" && GOTOOLCHAIN=go1.27.3 go run -trimpath .) >"$out/go1.27-labels.txt"
# Every misuse a few times over, the correct uses beside them.
GODEBUG=tracebackancestors=5 start libs "$tmp/libtarget-trimpath" -leaks -rate 5 -watch-max 8 -load 4
sleep 2.5
curl -sf "$addr/debug/pprof/goroutine" -o "$out/libtarget.pb.gz"
curl -sf "$addr/debug/pprof/goroutine?debug=2" -o "$out/libtarget.txt"
start libsplain "$tmp/libtarget" -leaks -rate 5 -watch-max 8 -load 4
sleep 2.5
curl -sf "$addr/debug/pprof/goroutine?debug=2" -o "$out/libtarget-plain.txt"

(cd "$root/testdata/ancestry" && GODEBUG=tracebackancestors=3 go run -trimpath . "$out/ancestry.pb.gz") >"$out/ancestry.txt"
ls -l "$out"
