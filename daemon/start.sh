#!/bin/bash
# `npm start`: the daemon on the default store ($TSIX_STORE, else level:// under
# $XDG_DATA_HOME/tsix/store) at the default mount point (printed on start; $TSIX_MOUNT overrides).
set -euo pipefail
cd "$(dirname "$0")/.."
[ -f dist/daemon/cli/main.js ] || npx tsc -p .
exec node dist/daemon/cli/main.js daemon "$@"
