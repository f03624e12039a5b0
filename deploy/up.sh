#!/usr/bin/env bash
# Installs pyctl and runs it on this machine: etcd and the control plane on loopback, the
# client config in ~/.pyctl/config, and the example deployment applied.
# Stop everything with: sudo bash deploy/down.sh
set -euo pipefail
cd "$(dirname "$0")/.."
bash deploy/install-deps.sh

STATE=${PYCTL_STATE:-/var/lib/pyctl/local}
RUN=$STATE/run
mkdir -p "$STATE/etcd" "$RUN"
ETCD_PORT=${ETCD_PORT:-2379}
API=${API_LISTEN:-127.0.0.1:6443}

running() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

if ! running "$RUN/etcd.pid"; then
  echo "==> starting etcd on 127.0.0.1:$ETCD_PORT"
  setsid etcd --name pyctl --data-dir "$STATE/etcd" \
    --listen-client-urls "http://127.0.0.1:$ETCD_PORT" --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
    --listen-peer-urls "http://127.0.0.1:$((ETCD_PORT + 1))" \
    --initial-advertise-peer-urls "http://127.0.0.1:$((ETCD_PORT + 1))" \
    --initial-cluster "pyctl=http://127.0.0.1:$((ETCD_PORT + 1))" \
    --auto-compaction-retention 1h >"$STATE/etcd.log" 2>&1 < /dev/null &
  echo $! > "$RUN/etcd.pid"
fi
if ! running "$RUN/controlplane.pid"; then
  echo "==> starting pyctl-controlplane on $API"
  setsid .venv/bin/pyctl-controlplane --etcd-servers "http://127.0.0.1:$ETCD_PORT" --listen "$API" \
    >"$STATE/controlplane.log" 2>&1 < /dev/null &
  echo $! > "$RUN/controlplane.pid"
fi
for _ in $(seq 1 100); do
  curl -sf "http://$API/readyz" >/dev/null 2>&1 && break
  sleep 0.2
done
curl -sf "http://$API/readyz" >/dev/null || { echo "control plane did not start; see $STATE/controlplane.log" >&2; exit 1; }

.venv/bin/pyctl config set-cluster local --server "http://$API" >/dev/null
.venv/bin/pyctl config set-context local --cluster local --namespace default >/dev/null
.venv/bin/pyctl config use-context local >/dev/null
.venv/bin/pyctl apply -f manifests/deployment.yaml
.venv/bin/pyctl get deployments -o wide
echo
echo "pyctl is running: try '.venv/bin/pyctl get all'. Logs: $STATE/*.log. Stop: sudo bash deploy/down.sh"
