#!/bin/bash
# `npm start`: the daemon on the default store ($TSIX_STORE, else level:// under
# $XDG_DATA_HOME/tsix/store) at the default mount point (printed on start; $TSIX_MOUNT overrides).
set -euo pipefail
cd "$(dirname "$0")/.."
[ -f dist/daemon/cli/main.js ] || npx tsc -p .
# The node flags are those of the shebang of daemon/cli/main.ts (see there why).
exec node --initial-old-space-size=64 dist/daemon/cli/main.js daemon "$@"
