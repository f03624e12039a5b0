#!/usr/bin/env bash
# Installs pyctl and runs a 3-node cluster on this machine, as kind does but with network
# namespaces: etcd, the control plane and a local image registry on the host, one runc agent
# per node netns on a bridge ('pyctl cluster up'); then applies the example deployment.
# Secure by default: HTTPS with a cluster CA, RBAC, nodes joining with a bootstrap token and
# Secrets encrypted in etcd. The client config (context "pyctl": the CA and the admin's client
# certificate) goes to ~/.pyctl/config (or $PYCTL_CONFIG). Safe to re-run: it starts only what
# is missing and keeps the CA. Stop everything with: bash deploy/down.sh
set -euo pipefail
. "$(dirname "$0")/as-root.sh"
cd "$(dirname "$0")/.."
bash deploy/install-deps.sh

NODES=${NODES:-3}
.venv/bin/pyctl cluster up --nodes "$NODES"
.venv/bin/pyctl apply -f manifests/deployment.yaml
echo "==> waiting for the example deployment"
.venv/bin/pyctl rollout status deployment/myapp --timeout=180s
.venv/bin/pyctl get pods -o wide
echo
echo "pyctl is running: try '.venv/bin/pyctl get all' or '.venv/bin/pyctl cluster status';"
echo "kubectl works too: 'kubectl --kubeconfig ~/.pyctl/config get pods' (HTTPS, admin certificate)."
echo "Logs: /var/lib/pyctl/clusters/pyctl/logs/. Stop: bash deploy/down.sh"
