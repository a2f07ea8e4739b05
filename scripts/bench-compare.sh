#!/usr/bin/env bash
# Compares this tree with an earlier commit on the benchmarks a change must
# not slow: decode+group (BenchmarkGroup, the receiver's two paths), one
# scrape through the receiver (BenchmarkScrape) and, with SCALE=1, the
# ocb-built collector against 1,000 targets (BenchmarkCollectorScale). The
# two trees run alternately, one count at a time, so that a machine's drift
# falls on both; benchstat compares them.
#
#   scripts/bench-compare.sh c54ebcd          # about 25 minutes
#   SCALE=1 scripts/bench-compare.sh c54ebcd  # and about 25 more
#
# COUNT (6) sets the counts of the first two, SCALE_TARGETS (1000),
# SCALE_INTERVAL (15s) and SCALE_COUNT (3) the third's. Output in
# _build/bench/compare/.
set -euo pipefail
base=${1:?usage: scripts/bench-compare.sh BASE-COMMIT}
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
out=_build/bench/compare
old=_build/bench/compare/tree
mkdir -p "$out"
rm -rf "$old"
git worktree prune
git worktree add --detach "$old" "$base" >/dev/null
trap 'git worktree remove --force "$old"' EXIT
# BenchmarkScrape uses only the scraper's constructor and scrape, which the
# older tree has too; its helper serveFile takes a testing.TB.
[ -f "$old/bench_test.go" ] || cp bench_test.go "$old/"
sed -i 's/func serveFile(t \*testing.T,/func serveFile(t testing.TB,/' "$old/scraper_test.go"
# The benchmark profiles are made once (cmd/stackfarm) and shared.
mkdir -p internal/group/testdata/bench
mkdir -p "$old/internal/group/testdata"
ln -s "$root/internal/group/testdata/bench" "$old/internal/group/testdata/bench"

BENCHSTAT="go tool -modfile=$root/internal/tools/go.mod benchstat"
group='BenchmarkGroup/.*/.*/.*/path=receiver'
: >"$out/group-before.txt"; : >"$out/group-after.txt"
: >"$out/scrape-before.txt"; : >"$out/scrape-after.txt"
for _ in $(seq "${COUNT:-6}"); do
  (cd "$old" && go test -run '^$' -bench "$group" -benchmem -count 1 ./internal/group) >>"$out/group-before.txt"
  go test -run '^$' -bench "$group" -benchmem -count 1 ./internal/group >>"$out/group-after.txt"
  (cd "$old" && go test -run '^$' -bench BenchmarkScrape -benchmem -count 1 .) >>"$out/scrape-before.txt"
  go test -run '^$' -bench BenchmarkScrape -benchmem -count 1 . >>"$out/scrape-after.txt"
done
$BENCHSTAT "$out/group-before.txt" "$out/group-after.txt" | tee "$out/group-benchstat.txt"
$BENCHSTAT "$out/scrape-before.txt" "$out/scrape-after.txt" | tee "$out/scrape-benchstat.txt"

[ "${SCALE:-}" = 1 ] || exit 0
make collector
(cd "$old" && make collector)
: >"$out/scale-before.txt"; : >"$out/scale-after.txt"
for _ in $(seq "${SCALE_COUNT:-3}"); do
  for tree in "$old" "$root"; do
    name=after; [ "$tree" = "$old" ] && name=before
    SCALE_TARGETS=${SCALE_TARGETS:-1000} SCALE_INTERVAL=${SCALE_INTERVAL:-15s} OTELCOL_BIN="$tree/_build/otelcol-goroutine" \
      go test -tags e2e -run '^$' -bench CollectorScale -benchtime 4x -timeout 30m ./e2e >>"$out/scale-$name.txt"
  done
done
$BENCHSTAT "$out/scale-before.txt" "$out/scale-after.txt" | tee "$out/scale-benchstat.txt"
