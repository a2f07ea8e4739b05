#!/usr/bin/env bash
# Regenerates internal/metadata, documentation.md and the generated tests from
# metadata.yaml with mdatagen (pinned in internal/tools/go.mod).
#
# mdatagen names the root package after the folder that holds metadata.yaml,
# and a checkout's folder can be called anything, so it runs through a link
# named after the package.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
ln -s "$root" "$tmp/goroutinereceiver"
cd "$tmp/goroutinereceiver"
go tool -modfile=internal/tools/go.mod mdatagen metadata.yaml
