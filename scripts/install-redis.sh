#!/usr/bin/env bash
# Installs Debian's redis-server for the cluster tests, which start private instances of it on free
# ports (never the machine's shared one), when `redis-server` is not on PATH. Only the binary is
# needed: the package's own service is not started by the tests.
set -euo pipefail
exec bash "$(dirname "$0")/apt-install.sh" redis-server redis-server --no-install-recommends
