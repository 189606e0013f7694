#!/bin/bash
# `npm start`: the daemon on the default store ($TSIX_STORE, else level:// under
# $XDG_DATA_HOME/tsix/store) at the default mount point (printed on start; $TSIX_MOUNT overrides).
set -euo pipefail
cd "$(dirname "$0")/.."
[ -f dist/daemon/cli/main.js ] || npx tsc -p .
# The tsix command gives the daemon its node flags and malloc settings (see daemon/cli/tsix).
exec daemon/cli/tsix daemon "$@"
