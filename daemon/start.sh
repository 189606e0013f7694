#!/bin/bash
# `npm start`: the daemon on the default store ($TSIX_STORE, else level:// under
# $XDG_DATA_HOME/tsix/store) at the default mount point (printed on start; $TSIX_MOUNT overrides).
set -euo pipefail
cd "$(dirname "$0")/.."
[ -f dist/daemon/cli/main.js ] || npx tsc -p .
# --initial-old-space-size: with a live heap of ~8 MiB, V8's default old-space limit left so
# little room that the daemon's binary cache ran a full mark-compact every ~20 NAR requests (a
# third of its CPU); an initial 64 MiB limit cut that to a few per thousand requests. It must be
# given at start-up (NODE_OPTIONS refuses it, v8.setFlagsFromString is too late), and is not in
# the CLI's shebang because it seemed to cost short commands start-up time.
# The malloc settings of the tsix command (daemon/cli/tsix: why there).
GLIBC_TUNABLES="glibc.malloc.mmap_threshold=33554432:glibc.malloc.trim_threshold=268435456${GLIBC_TUNABLES:+:$GLIBC_TUNABLES}"
export GLIBC_TUNABLES
exec node --initial-old-space-size=64 dist/daemon/cli/main.js daemon "$@"
