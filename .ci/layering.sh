#!/usr/bin/env bash
# The import rule ARCHITECTURE.md states: nothing on the sidecar side links
# the control plane's storage (and with it the database drivers). Fails,
# naming the package and the path, when such an import appears.
set -euo pipefail
cd "$(dirname "$0")/.."
mod=github.com/alter-sidecar/alter
sidecar=(./proxy/... ./config/... ./secretstore/... ./audit/... ./inject/... ./policy/... ./grant ./profile ./errcode ./certs/... ./providers/... ./sdk/... ./server/wire ./server/client)
forbidden="^($mod/server/storage|$mod/server/api|$mod/server/portal|github.com/jackc/pgx/v5|modernc.org/sqlite)(/|\$)"
status=0
for pkg in $(go list "${sidecar[@]}"); do
  if bad=$(go list -deps "$pkg" | grep -E "$forbidden"); then
    echo "layering: $pkg imports $(echo "$bad" | tr '\n' ' ')(see ARCHITECTURE.md, \"Packages and what they may import\")" >&2
    status=1
  fi
done
[ "$status" = 0 ] && echo "layering: no sidecar package reaches server/storage or a database driver"
exit "$status"
