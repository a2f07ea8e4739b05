#!/usr/bin/env bash
# Installs Debian's prometheus package (prometheus and promtool) where it is
# missing. The e2e test with a real Prometheus and `make rules` call it.
# Recommends are left out: they would start a node exporter. Where the
# package's service starts anyway (a machine with systemd), it listens on
# :9090, which no test uses.
set -euo pipefail
if command -v prometheus >/dev/null && command -v promtool >/dev/null; then
  exit 0
fi
sudo=
if [ "$(id -u)" -ne 0 ]; then
  sudo=sudo
fi
export DEBIAN_FRONTEND=noninteractive
if ! $sudo apt-get install -y --no-install-recommends prometheus >/dev/null; then
  # A fresh machine may have no package lists yet.
  $sudo apt-get update >/dev/null
  $sudo apt-get install -y --no-install-recommends prometheus >/dev/null
fi
prometheus --version 2>&1 | head -1
