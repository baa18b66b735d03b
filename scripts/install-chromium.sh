#!/usr/bin/env bash
# Installs Debian's chromium for the client's real-browser tests when `chromium` is not on PATH.
set -euo pipefail
exec bash "$(dirname "$0")/apt-install.sh" chromium chromium
