#!/usr/bin/env bash
# Stops what deploy/up.sh started, by the pids it recorded, and removes its state.
set -euo pipefail
STATE=${PYCTL_STATE:-/var/lib/pyctl/local}
for pidfile in "$STATE"/run/agent-*.pid "$STATE/run/controlplane.pid" "$STATE/run/etcd.pid"; do
  if [ -f "$pidfile" ]; then
    pid=$(cat "$pidfile")
    if kill -0 "$pid" 2>/dev/null; then
      kill "$pid"
      for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -9 "$pid" 2>/dev/null || true
    fi
    rm -f "$pidfile"
  fi
done
rm -rf "$STATE"
echo "pyctl stopped; $STATE removed"
