#!/usr/bin/env bash
# Installs a Debian package that a test needs when its command is missing. Idempotent: does nothing
# when the command is already on PATH. Needs root (or passwordless sudo) on a Debian/Ubuntu host.
#
#   scripts/apt-install.sh <command> <package> [apt-get install option...]
set -euo pipefail

command_name="$1"
package="$2"
shift 2

if command -v "$command_name" >/dev/null 2>&1; then
  exit 0
fi

if [ "$(id -u)" -eq 0 ]; then
  SUDO=""
elif command -v sudo >/dev/null 2>&1; then
  SUDO="sudo -n"
else
  echo "apt-install: not root and no sudo; install the '$package' package by hand" >&2
  exit 1
fi

export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update
$SUDO apt-get install -y "$@" "$package"
command -v "$command_name" >/dev/null 2>&1
