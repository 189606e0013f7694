#!/bin/bash
# The README's test command: installs everything the tests need on a fresh Debian 12 machine
# (as root), starts the services they use, runs the suite, and cleans up after itself.
set -euo pipefail
cd "$(dirname "$0")/.."
bash test/setup/system-packages.sh
npm ci --no-audit --no-fund
cleanup() { [ -x test/setup/cri-down.sh ] && bash test/setup/cri-down.sh >/dev/null 2>&1 || true; }
trap cleanup EXIT
if [ -f test/setup/cri-up.sh ]; then bash test/setup/cri-up.sh; fi
npm test
