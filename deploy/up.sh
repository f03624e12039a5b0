#!/usr/bin/env bash
# Installs pyctl and runs it on this machine: etcd and the control plane on loopback, three
# node agents, the client config in ~/.pyctl/config, and the example deployment applied.
# The agents use the hollow runtime (simulated containers, runtime "hollow://") until the
# real runc/conmon runtime lands; 'pyctl get nodes -o wide' shows which runtime a node has.
# Stop everything with: sudo bash deploy/down.sh
set -euo pipefail
cd "$(dirname "$0")/.."
bash deploy/install-deps.sh

STATE=${PYCTL_STATE:-/var/lib/pyctl/local}
RUN=$STATE/run
mkdir -p "$STATE/etcd" "$RUN"
ETCD_PORT=${ETCD_PORT:-2379}
API=${API_LISTEN:-127.0.0.1:6443}
GATEWAY=${GATEWAY_LISTEN:-127.0.0.1:7443}
NODES=${NODES:-3}

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
    --gateway-listen "$GATEWAY" >"$STATE/controlplane.log" 2>&1 < /dev/null &
  echo $! > "$RUN/controlplane.pid"
fi
for i in $(seq 1 "$NODES"); do
  if ! running "$RUN/agent-$i.pid"; then
    setsid .venv/bin/pyctl-agent --server "$GATEWAY" --node-name "node-$i" --runtime hollow \
      --agent-listen "127.0.0.1:$((10250 + i))" --state-dir "$STATE/agent-$i" \
      >"$STATE/agent-$i.log" 2>&1 < /dev/null &
    echo $! > "$RUN/agent-$i.pid"
  fi
done
for _ in $(seq 1 100); do
  curl -sf "http://$API/readyz" >/dev/null 2>&1 && break
  sleep 0.2
done
curl -sf "http://$API/readyz" >/dev/null || { echo "control plane did not start; see $STATE/controlplane.log" >&2; exit 1; }

.venv/bin/pyctl config set-cluster local --server "http://$API" >/dev/null
.venv/bin/pyctl config set-context local --cluster local --namespace default >/dev/null
.venv/bin/pyctl config use-context local >/dev/null
.venv/bin/pyctl apply -f manifests/deployment.yaml
echo "==> waiting for the example deployment"
.venv/bin/pyctl rollout status deployment/myapp --timeout=120s || true
.venv/bin/pyctl get nodes
.venv/bin/pyctl get pods -o wide
echo
echo "pyctl is running: try '.venv/bin/pyctl get all'. Logs: $STATE/*.log. Stop: sudo bash deploy/down.sh"
