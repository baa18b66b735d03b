#!/usr/bin/env bash
# Installs Debian's chromium for the client's real-browser test. Idempotent: does nothing when a
# `chromium` executable is already on PATH. Needs root (or passwordless sudo) on a Debian/Ubuntu host.
set -euo pipefail

if command -v chromium >/dev/null 2>&1; then
  exit 0
fi

if [ "$(id -u)" -eq 0 ]; then
  SUDO=""
elif command -v sudo >/dev/null 2>&1; then
  SUDO="sudo -n"
else
  echo "install-chromium: not root and no sudo; install the 'chromium' package by hand" >&2
  exit 1
fi

export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update
$SUDO apt-get install -y chromium
command -v chromium >/dev/null 2>&1
