#!/usr/bin/env bash
# Stops the cluster deploy/up.sh started and removes everything it made: processes, runc
# containers, network namespaces, the bridge, routes, mounts, cgroups and its state.
set -euo pipefail
. "$(dirname "$0")/as-root.sh"
cd "$(dirname "$0")/.."
if [ -x .venv/bin/pyctl ]; then
  .venv/bin/pyctl cluster down
else
  python3 -m pyctl cluster down
fi
