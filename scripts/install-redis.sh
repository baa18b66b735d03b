#!/usr/bin/env bash
# Installs Debian's redis-server for the cluster tests, which start private instances of it on free
# ports (never the machine's shared one). Idempotent: does nothing when `redis-server` is on PATH.
# Needs root (or passwordless sudo) on a Debian/Ubuntu host.
set -euo pipefail

if command -v redis-server >/dev/null 2>&1; then
  exit 0
fi

if [ "$(id -u)" -eq 0 ]; then
  SUDO=""
elif command -v sudo >/dev/null 2>&1; then
  SUDO="sudo -n"
else
  echo "install-redis: not root and no sudo; install the 'redis-server' package by hand" >&2
  exit 1
fi

export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update
# Only the binary is needed: the package's own service is not started by the tests.
$SUDO apt-get install -y --no-install-recommends redis-server
command -v redis-server >/dev/null 2>&1
