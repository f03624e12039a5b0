#!/usr/bin/env bash
# Installs pyctl on a Debian 12 / Ubuntu server as systemd services: the system packages, a
# virtualenv with pyctl, the units from deploy/systemd/ and their settings in /etc/pyctl/*.env.
# Secure by default: the server gets a cluster CA (HTTPS, client certificates), RBAC and
# Secrets encrypted at rest; an agent joins with a bootstrap token (`pyctl token create`).
# --root DIR writes the files under DIR and touches nothing else, so the output can be read
# and tested. Every argument is checked before anything changes; a second run with the same
# arguments changes nothing and restarts nothing.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
PROG=install.sh

usage() {
  cat <<'EOF'
usage: install.sh --role server|agent [options]

Installs pyctl as systemd services on this Debian 12 / Ubuntu host (run as root).

  --role server   etcd (pyctl-etcd.service) + the control plane (pyctl-controlplane.service)
  --role agent    the node agent (pyctl-agent.service) of one worker

server options:
  --etcd-name NAME              this host's etcd member name (default: the short host name)
  --etcd-initial-cluster LIST   all members, NAME=http(s)://IP:2380,... (default: a single
                                member NAME=http://127.0.0.1:2380); https peer URLs need --etcd-pki
  --etcd-cluster-state S        new (bootstrap the cluster, default) or existing (join it after
                                'etcdctl member add')
  --etcd-cluster-token T        unique per cluster (default pyctl)
  --etcd-client-port N          client port of every member (default 2379)
  --etcd-data-dir DIR           (default /var/lib/etcd/pyctl)
  --etcd-compaction-retention D keep this much history (default 1h)
  --etcd-pki DIR                peer TLS: DIR/ca.crt, DIR/peer.crt, DIR/peer.key
  --external-etcd URLS          use this etcd (comma-separated client URLs); install no etcd here
  --api-listen HOST:PORT        API server, HTTPS (default 127.0.0.1:6443); pods reach it through the
                                kubernetes Service at this address when it is a specific one (for
                                0.0.0.0, add --extra-args "--advertise-address IP")
  --gateway-listen HOST:PORT    node gateway the agents dial, mutual TLS (default 0.0.0.0:7443);
                                new nodes join on port 7444 of the same hosts
  --pki-dir DIR                 the cluster CA and certificates, made once (default /var/lib/pyctl/pki)
  --tls-san NAMES               comma-separated extra names/IPs of the API server certificate
  --encryption-config FILE      Secrets encryption key, made once, 0600
                                (default /etc/pyctl/encryption-config.yaml)
  --admin-kubeconfig FILE       the admin's kubeconfig, made once, 0600
                                (default /etc/pyctl/admin.kubeconfig)
  --components LIST             all (default) or a subset of apiserver,scheduler,controllers,gateway
  --cluster-cidr CIDR           the pod network; each node gets a podCIDR from it (default 10.244.0.0/16)

agent options:
  --server HOST:PORT            the control plane's node gateway (required; port 7443)
  --token TOKEN                 a bootstrap token from `pyctl token create` on the server (required;
                                used once: the node keeps its certificate in --state-dir)
  --ca-cert-hash sha256:HEX     the cluster CA's hash, printed by `pyctl token create` (required)
  --node-name NAME              (default: the short host name)
  --runtime runc|hollow         (default runc)
  --state-dir DIR               (default /var/lib/pyctl-agent)
  --node-ip IP                  address to report (default: the one that reaches --server)
  --pod-cidr CIDR               this node's pod CIDR (default: the one the control plane assigns)
  --cluster-cidr CIDR           the whole cluster's pod CIDR (default: the control plane's)
  --agent-listen HOST:PORT      logs/exec for the API server (default 0.0.0.0:10250)
                                Local PersistentVolumes (StorageClass local-path, which the control
                                plane makes as the default class) live in --state-dir/volumes, one
                                loop-mounted ext4 image each; elsewhere or capped with --extra-args
                                "--volume-dir /srv/pyctl-volumes --volume-capacity 500Gi"

common options:
  --source PATH     pyctl checkout or wheel to install (default: this script's checkout)
  --venv DIR        the virtualenv (default /opt/pyctl/venv)
  --extra-args ARGS more flags for pyctl-controlplane / pyctl-agent, e.g. "--verbose"
  --no-start        write, install and enable, but do not (re)start the services
  --root DIR        write every file under DIR instead of /; install, enable and start nothing
  --dry-run         print the files and commands; change nothing
  -h, --help        this help

examples:
  # a control plane with its own single-member etcd on this host
  install.sh --role server

  # the first of three control-plane hosts, each running one member of a 3-member etcd
  install.sh --role server --etcd-name n1 \
      --etcd-initial-cluster n1=http://10.0.0.1:2380,n2=http://10.0.0.2:2380,n3=http://10.0.0.3:2380

  # a worker, with the token and hash `pyctl token create` printed on the server
  install.sh --role agent --server 10.0.0.1:7443 --node-name worker-1 \
      --token abcdef.0123456789abcdef --ca-cert-hash sha256:<64 hex digits>

  # see what a worker install would write
  install.sh --role agent --server 10.0.0.1:7443 --token abcdef.0123456789abcdef \
      --ca-cert-hash sha256:<64 hex digits> --root /tmp/pyctl-root
EOF
}

die() {
  echo "$PROG: error: $*" >&2
  echo "Try '$PROG --help'." >&2
  exit 2
}

# -- arguments ----------------------------------------------------------------------------------

EXTRA_ARGS="" ROLE="" ROOT="" DRY_RUN=0 START=1 SOURCE="$(dirname "$HERE")" VENV=/opt/pyctl/venv CONF=/etc/pyctl
HOST=$(hostname -s 2>/dev/null || hostname)
ETCD_NAME="" ETCD_CLUSTER="" ETCD_STATE=new ETCD_TOKEN=pyctl ETCD_CLIENT_PORT=2379
ETCD_DATA_DIR=/var/lib/etcd/pyctl ETCD_RETENTION=1h ETCD_PKI="" EXTERNAL_ETCD=""
API_LISTEN=127.0.0.1:6443 GATEWAY_LISTEN=0.0.0.0:7443 COMPONENTS=all
PKI_DIR=/var/lib/pyctl/pki TLS_SAN="" ENCRYPTION_CONFIG=$CONF/encryption-config.yaml
ADMIN_KUBECONFIG=$CONF/admin.kubeconfig TOKEN="" CA_CERT_HASH=""
SERVER="" NODE_NAME="" RUNTIME=runc STATE_DIR=/var/lib/pyctl-agent NODE_IP="" POD_CIDR=""
CLUSTER_CIDR="" AGENT_LISTEN=0.0.0.0:10250 HAPROXY_NEW=0 READY=0
declare -A GIVEN=()

while [ $# -gt 0 ]; do
  opt=$1
  case "$opt" in
    -h|--help) usage; exit 0 ;;
    --no-start) START=0; shift; continue ;;
    --dry-run) DRY_RUN=1; shift; continue ;;
    --*=*) set -- "${opt%%=*}" "${opt#*=}" "${@:2}"; continue ;;
    --*) [ $# -ge 2 ] || die "$opt needs a value"; val=$2 ;;
    *) die "unexpected argument '$opt'" ;;
  esac
  case "$opt" in
    --role) ROLE=$val ;;
    --root) ROOT=$val ;;
    --source) SOURCE=$val ;;
    --venv) VENV=$val ;;
    --extra-args) EXTRA_ARGS=$val ;;
    --etcd-name) ETCD_NAME=$val ;;
    --etcd-initial-cluster) ETCD_CLUSTER=$val ;;
    --etcd-cluster-state) ETCD_STATE=$val ;;
    --etcd-cluster-token) ETCD_TOKEN=$val ;;
    --etcd-client-port) ETCD_CLIENT_PORT=$val ;;
    --etcd-data-dir) ETCD_DATA_DIR=$val ;;
    --etcd-compaction-retention) ETCD_RETENTION=$val ;;
    --etcd-pki) ETCD_PKI=$val ;;
    --external-etcd) EXTERNAL_ETCD=$val ;;
    --api-listen) API_LISTEN=$val ;;
    --gateway-listen) GATEWAY_LISTEN=$val ;;
    --components) COMPONENTS=$val ;;
    --pki-dir) PKI_DIR=$val ;;
    --tls-san) TLS_SAN=$val ;;
    --encryption-config) ENCRYPTION_CONFIG=$val ;;
    --admin-kubeconfig) ADMIN_KUBECONFIG=$val ;;
    --token) TOKEN=$val ;;
    --ca-cert-hash) CA_CERT_HASH=$val ;;
    --server) SERVER=$val ;;
    --node-name) NODE_NAME=$val ;;
    --runtime) RUNTIME=$val ;;
    --state-dir) STATE_DIR=$val ;;
    --node-ip) NODE_IP=$val ;;
    --pod-cidr) POD_CIDR=$val ;;
    --cluster-cidr) CLUSTER_CIDR=$val ;;
    --agent-listen) AGENT_LISTEN=$val ;;
    *) die "unknown option '$opt'" ;;
  esac
  GIVEN[$opt]=1
  shift 2
done

# -- validation: all of it before the first change ------------------------------------------------

SERVER_ONLY=(--etcd-name --etcd-initial-cluster --etcd-cluster-state --etcd-cluster-token
             --etcd-client-port --etcd-data-dir --etcd-compaction-retention --etcd-pki
             --external-etcd --api-listen --gateway-listen --components --pki-dir --tls-san
             --encryption-config --admin-kubeconfig)
AGENT_ONLY=(--server --node-name --runtime --state-dir --node-ip --pod-cidr --agent-listen --token --ca-cert-hash)

only_for() {  # only_for ROLE OPTION...: these options were given, but they belong to ROLE
  local role=$1 o; shift
  for o in "$@"; do
    [ -z "${GIVEN[$o]:-}" ] || die "$o applies only to --role $role"
  done
}
port_ok() { [[ $1 =~ ^[0-9]+$ ]] && [ "$1" -ge 1 ] && [ "$1" -le 65535 ]; }
hostport() {  # hostport OPTION VALUE
  [[ $2 =~ ^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9._-]+):([0-9]+)$ ]] && port_ok "${BASH_REMATCH[2]}" \
    || die "$1 must be HOST:PORT, got '$2'"
}
name_ok() { [[ $2 =~ ^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$ ]] || die "$1 '$2' is not a valid name (lower-case letters, digits, '-', '.')"; }
cidr_ok() { [[ $2 =~ ^[0-9]{1,3}(\.[0-9]{1,3}){3}/[0-9]{1,2}$ ]] || die "$1 must be an IPv4 CIDR like 10.244.1.0/24, got '$2'"; }
abs_ok() { [[ $2 =~ ^/[^[:space:]|]*$ ]] || die "$1 must be an absolute path without spaces, got '$2'"; }

case "$ROLE" in
  server) only_for agent "${AGENT_ONLY[@]}" ;;
  agent) only_for server "${SERVER_ONLY[@]}" ;;
  "") die "--role is required (server or agent)" ;;
  *) die "--role must be server or agent, got '$ROLE'" ;;
esac
[ "$DRY_RUN" = 0 ] || [ -z "$ROOT" ] || die "--root and --dry-run exclude each other"
[ -z "$ROOT" ] || abs_ok --root "$ROOT"
abs_ok --venv "$VENV"
[ -e "$SOURCE" ] || die "--source '$SOURCE' does not exist"
[[ -f $SOURCE && $SOURCE == *.whl ]] || [ -f "$SOURCE/pyproject.toml" ] \
  || die "--source '$SOURCE' is neither a wheel (.whl) nor a pyctl checkout"

if [ "$ROLE" = server ]; then
  ETCD_NAME=${ETCD_NAME:-${HOST,,}}
  name_ok --etcd-name "$ETCD_NAME"
  port_ok "$ETCD_CLIENT_PORT" || die "--etcd-client-port must be a port number, got '$ETCD_CLIENT_PORT'"
  [[ $ETCD_TOKEN =~ ^[A-Za-z0-9._-]+$ ]] || die "--etcd-cluster-token may hold letters, digits, '.', '_' and '-', got '$ETCD_TOKEN'"
  case "$ETCD_STATE" in new|existing) ;; *) die "--etcd-cluster-state must be new or existing, got '$ETCD_STATE'" ;; esac
  [[ $ETCD_RETENTION =~ ^[0-9]+(h|m|s)?$ ]] || die "--etcd-compaction-retention must be like 1h, 30m or 5 (hours), got '$ETCD_RETENTION'"
  abs_ok --etcd-data-dir "$ETCD_DATA_DIR"
  hostport --api-listen "$API_LISTEN"
  hostport --gateway-listen "$GATEWAY_LISTEN"
  abs_ok --pki-dir "$PKI_DIR"
  abs_ok --encryption-config "$ENCRYPTION_CONFIG"
  abs_ok --admin-kubeconfig "$ADMIN_KUBECONFIG"
  [[ $TLS_SAN =~ ^[A-Za-z0-9.:,_-]*$ ]] || die "--tls-san takes comma-separated host names and IPs, got '$TLS_SAN'"
  API_HOST=${API_LISTEN%:*} API_HOST=${API_HOST/0.0.0.0/127.0.0.1}
  API_URL="https://$API_HOST:${API_LISTEN##*:}"
  if [ "$COMPONENTS" != all ]; then
    IFS=, read -ra comps <<<"$COMPONENTS"
    for c in "${comps[@]}"; do
      case "$c" in apiserver|scheduler|controllers|gateway) ;;
        *) die "--components: unknown component '$c'; choose all or from apiserver,scheduler,controllers,gateway" ;;
      esac
    done
    [[ ,$COMPONENTS, == *,apiserver,* ]] || die "--components must include apiserver (the others reach state through it)"
  fi
  if [ -n "$EXTERNAL_ETCD" ]; then
    for o in --etcd-name --etcd-initial-cluster --etcd-cluster-state --etcd-cluster-token --etcd-client-port \
             --etcd-data-dir --etcd-compaction-retention --etcd-pki; do
      [ -z "${GIVEN[$o]:-}" ] || die "$o configures the local etcd member; --external-etcd installs none"
    done
    IFS=, read -ra urls <<<"$EXTERNAL_ETCD"
    for u in "${urls[@]}"; do
      [[ $u =~ ^http://[A-Za-z0-9._-]+:[0-9]+$ ]] \
        || die "--external-etcd takes http://HOST:PORT URLs (pyctl speaks plain HTTP to etcd), got '$u'"
    done
    ETCD_SERVERS=$EXTERNAL_ETCD
  else
    ETCD_CLUSTER=${ETCD_CLUSTER:-$ETCD_NAME=http://127.0.0.1:2380}
    PEER_URL="" CLIENT_URLS=() TLS=0 seen=","
    IFS=, read -ra members <<<"$ETCD_CLUSTER"
    for m in "${members[@]}"; do
      [[ $m =~ ^([a-z0-9]([-a-z0-9.]*[a-z0-9])?)=(https?)://([A-Za-z0-9._-]+):([0-9]+)$ ]] \
        || die "--etcd-initial-cluster entries must be NAME=http(s)://IP:PORT, got '$m'"
      name=${BASH_REMATCH[1]} scheme=${BASH_REMATCH[3]} ip=${BASH_REMATCH[4]} port=${BASH_REMATCH[5]}
      port_ok "$port" || die "--etcd-initial-cluster: bad port in '$m'"
      [[ $seen != *,$name,* ]] || die "--etcd-initial-cluster names member '$name' twice"
      seen+="$name,"
      [ "$scheme" = https ] && TLS=1
      CLIENT_URLS+=("http://$ip:$ETCD_CLIENT_PORT")
      if [ "$name" = "$ETCD_NAME" ]; then
        PEER_URL="$scheme://$ip:$port" OWN_CLIENT="http://$ip:$ETCD_CLIENT_PORT"
      fi
    done
    [ -n "$PEER_URL" ] || die "--etcd-name '$ETCD_NAME' is not a member of --etcd-initial-cluster '$ETCD_CLUSTER'"
    if [ "$TLS" = 1 ]; then
      [ -n "$ETCD_PKI" ] || die "https peer URLs in --etcd-initial-cluster need --etcd-pki DIR (ca.crt, peer.crt, peer.key)"
      abs_ok --etcd-pki "$ETCD_PKI"
      if [ -z "$ROOT" ] && [ "$DRY_RUN" = 0 ]; then
        for f in ca.crt peer.crt peer.key; do
          [ -r "$ETCD_PKI/$f" ] || die "--etcd-pki: $ETCD_PKI/$f is missing"
        done
      fi
      PEER_TLS_ARGS="--peer-client-cert-auth --peer-trusted-ca-file $ETCD_PKI/ca.crt --peer-cert-file $ETCD_PKI/peer.crt --peer-key-file $ETCD_PKI/peer.key"
    else
      [ -z "$ETCD_PKI" ] || die "--etcd-pki is for https peer URLs; --etcd-initial-cluster has only http ones"
      PEER_TLS_ARGS=""
    fi
    # The local member first: the control plane tries the URLs in order.
    ETCD_SERVERS=$OWN_CLIENT
    for u in "${CLIENT_URLS[@]}"; do [ "$u" = "$OWN_CLIENT" ] || ETCD_SERVERS+=",$u"; done
    LISTEN_CLIENT=$OWN_CLIENT
    # etcdctl and backups on the host use 127.0.0.1 (a member already on loopback needs no more).
    [[ $OWN_CLIENT == http://127.* ]] || LISTEN_CLIENT+=",http://127.0.0.1:$ETCD_CLIENT_PORT"
  fi
else
  [ -n "$SERVER" ] || die "--server HOST:PORT is required for --role agent (the control plane's node gateway, port 7443)"
  [[ $SERVER == *:* ]] || SERVER+=":7443"
  hostport --server "$SERVER"
  [ -n "$TOKEN" ] || die "--token is required for --role agent: run 'pyctl token create' on the server; it prints the token and the CA hash"
  [[ $TOKEN =~ ^[a-z0-9]{6}\.[a-z0-9]{16}$ ]] || die "--token: the token is malformed: expected the form [a-z0-9]{6}.[a-z0-9]{16} (see 'pyctl token create')"
  [ -n "$CA_CERT_HASH" ] || die "--ca-cert-hash sha256:HEX is required for --role agent: how the node trusts the control plane (printed by 'pyctl token create')"
  [[ $CA_CERT_HASH =~ ^sha256:[0-9a-fA-F]{64}$ ]] || die "--ca-cert-hash must be sha256:<64 hex digits>, got '$CA_CERT_HASH'"
  NODE_NAME=${NODE_NAME:-${HOST,,}}
  name_ok --node-name "$NODE_NAME"
  case "$RUNTIME" in runc|hollow) ;; *) die "--runtime must be runc or hollow, got '$RUNTIME'" ;; esac
  abs_ok --state-dir "$STATE_DIR"
  [ -z "$NODE_IP" ] || [[ $NODE_IP =~ ^[0-9]{1,3}(\.[0-9]{1,3}){3}$ ]] || die "--node-ip must be an IPv4 address, got '$NODE_IP'"
  [ -z "$POD_CIDR" ] || cidr_ok --pod-cidr "$POD_CIDR"
  hostport --agent-listen "$AGENT_LISTEN"
fi
[ -z "$CLUSTER_CIDR" ] || cidr_ok --cluster-cidr "$CLUSTER_CIDR"
# Quoted in the settings file, which systemd reads and a shell can source: no quoting inside.
[[ $EXTRA_ARGS =~ ^[^\"\'\\\$\`]*$ && $EXTRA_ARGS != *$'\n'* ]] \
  || die "--extra-args must be one line of flags without quotes, backslashes, \$ or backquotes"
if [ -z "$ROOT" ] && [ "$DRY_RUN" = 0 ] && [ "$(id -u)" != 0 ]; then
  die "run as root (or use --root DIR / --dry-run to see what would be written)"
fi

# -- doing it -------------------------------------------------------------------------------------

say() { echo "==> $*"; }
system() { [ -z "$ROOT" ] && [ "$DRY_RUN" = 0 ]; }  # true when this run may touch the system
run() {  # run a command that changes the system, or only show it
  if system; then "$@"; else echo "    would run: $*"; fi
}

CHANGED=()
put() {  # put PATH MODE < content: write ROOT/PATH if its content differs; remember what changed
  local path=$1 mode=$2 target="$ROOT$1" content
  content=$(cat)
  if [ "$DRY_RUN" = 1 ]; then
    echo "--- $path"; echo "$content"; CHANGED+=("$path"); return
  fi
  if [ -f "$target" ] && [ "$(cat "$target")" = "$content" ]; then
    echo "    unchanged: $path"; return
  fi
  mkdir -p "$(dirname "$target")"
  (umask 077; : >"$target.tmp")  # never readable by others, not even for a moment (agent.env holds a token)
  printf '%s\n' "$content" >"$target.tmp"
  chmod "$mode" "$target.tmp"
  mv "$target.tmp" "$target"  # atomic: a unit never reads half a file
  echo "    wrote: $path"
  CHANGED+=("$path")
}

service() {  # service UNIT MODE KEY=VALUE...: the unit from deploy/systemd/ and its settings file
  local unit=$1 mode=$2 kv text; shift 2
  # Not piped into put: put must run in this shell to record what it changed.
  text=$(sed -e "s|@CONF@|$CONF|g" -e "s|@VENV@|$VENV|g" -e "s|@ETCD@|/usr/bin/etcd|g" "$HERE/systemd/$unit")
  put "/etc/systemd/system/$unit" 644 <<<"$text"
  text="# Settings of $unit, written by deploy/install.sh; rerun it with other options to change them."
  # Quoted: systemd drops the quotes, and a shell can source the file (docs/operations.md).
  for kv in "$@"; do text+=$'\n'"${kv%%=*}=\"${kv#*=}\""; done
  put "$CONF/$(settings_of "$unit")" "$mode" <<<"$text"
}
settings_of() { local name=${1#pyctl-}; echo "${name%.service}.env"; }

packages() {
  local wanted=(python3-venv curl ca-certificates) missing=() p
  if [ "$ROLE" = server ]; then
    wanted+=(etcd-client)
    [ -n "$EXTERNAL_ETCD" ] || wanted+=(etcd-server)
  else
    # haproxy: the node's ingress proxy (pyctl-agent runs and configures its own instance).
    wanted+=(runc conmon containernetworking-plugins iproute2 iptables util-linux procps e2fsprogs haproxy)
  fi
  for p in "${wanted[@]}"; do
    [ -z "$ROOT" ] && dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -gt 0 ] || return 0
  say "installing system packages: ${missing[*]}"
  [[ " ${missing[*]} " != *" haproxy "* ]] || HAPROXY_NEW=1
  export DEBIAN_FRONTEND=noninteractive
  run apt-get update -qq
  run apt-get install -y -qq --no-install-recommends "${missing[@]}"
}

fingerprint() {  # what pyctl files are installed in the venv: changes whenever the code does
  "$VENV/bin/python" - <<'EOF' 2>/dev/null || true
import hashlib, importlib.metadata as m
print(hashlib.sha256(m.distribution("pyctl").read_text("RECORD").encode()).hexdigest())
EOF
}

virtualenv() {
  say "installing pyctl from $SOURCE into $VENV"
  if system && ! python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
    echo "$PROG: error: pyctl needs Python 3.11 or newer (Debian 12, Ubuntu 24.04); python3 is $(python3 -V)" >&2
    exit 1
  fi
  [ -x "$VENV/bin/python" ] || run python3 -m venv "$VENV"
  system || { echo "    would run: $VENV/bin/pip install --upgrade $SOURCE"; return; }
  local before; before=$(fingerprint)
  # pip reinstalls a checkout every time; the fingerprint tells whether the code changed.
  # (PIP_INDEX_URL / PIP_FIND_LINKS in the environment reach pip, for hosts without PyPI.)
  "$VENV/bin/pip" install -q --upgrade "$SOURCE"
  [ "$(fingerprint)" = "$before" ] || CHANGED+=("$VENV")
}

files() {
  say "writing units and settings${ROOT:+ under $ROOT}"
  if [ "$ROLE" = agent ]; then
    # 0600: the bootstrap token lets anyone holding it join a node until it expires.
    service pyctl-agent.service 600 SERVER="$SERVER" NODE_NAME="$NODE_NAME" RUNTIME="$RUNTIME" \
      STATE_DIR="$STATE_DIR" NODE_IP="$NODE_IP" POD_CIDR="$POD_CIDR" CLUSTER_CIDR="$CLUSTER_CIDR" \
      AGENT_LISTEN="$AGENT_LISTEN" TOKEN="$TOKEN" CA_CERT_HASH="$CA_CERT_HASH" EXTRA_ARGS="$EXTRA_ARGS"
    return
  fi
  [ -n "$EXTERNAL_ETCD" ] || service pyctl-etcd.service 644 NAME="$ETCD_NAME" DATA_DIR="$ETCD_DATA_DIR" \
    LISTEN_CLIENT_URLS="$LISTEN_CLIENT" ADVERTISE_CLIENT_URLS="$OWN_CLIENT" \
    LISTEN_PEER_URLS="$PEER_URL" ADVERTISE_PEER_URLS="$PEER_URL" INITIAL_CLUSTER="$ETCD_CLUSTER" \
    INITIAL_CLUSTER_STATE="$ETCD_STATE" INITIAL_CLUSTER_TOKEN="$ETCD_TOKEN" \
    AUTO_COMPACTION_RETENTION="$ETCD_RETENTION" PEER_TLS_ARGS="$PEER_TLS_ARGS"
  service pyctl-controlplane.service 644 ETCD_SERVERS="$ETCD_SERVERS" LISTEN="$API_LISTEN" \
    GATEWAY_LISTEN="$GATEWAY_LISTEN" COMPONENTS="$COMPONENTS" CLUSTER_CIDR="${CLUSTER_CIDR:-10.244.0.0/16}" \
    PKI_DIR="$PKI_DIR" TLS_SAN="$TLS_SAN" ENCRYPTION_CONFIG="$ENCRYPTION_CONFIG" EXTRA_ARGS="$EXTRA_ARGS"
}

credentials() {  # server: CA, certificates, encryption key and admin kubeconfig, each made once
  [ "$ROLE" = server ] || return 0
  say "cluster CA in $PKI_DIR, Secrets key in $ENCRYPTION_CONFIG, admin kubeconfig $ADMIN_KUBECONFIG"
  system && id -u pyctl >/dev/null 2>&1 \
    || run useradd --system --user-group --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin pyctl
  # Never overwritten: a new CA would lock every node and user out, a new key every Secret, a
  # new ServiceAccount signing key (PKI_DIR/sa.key) every pod's token. Back the PKI dir up.
  # The serving certificate names the address the API listens on, as the control plane would.
  run "$VENV/bin/python" "$HERE/server-credentials.py" --pki-dir "$PKI_DIR" --tls-san "$API_HOST${TLS_SAN:+,$TLS_SAN}" \
    --encryption-config "$ENCRYPTION_CONFIG" --admin-kubeconfig "$ADMIN_KUBECONFIG" --server "$API_URL"
  # The control plane runs as pyctl: it reads the keys (and signs node certificates with the CA).
  run chown -R pyctl:pyctl "$PKI_DIR" "$ENCRYPTION_CONFIG"
}

changed() {  # changed UNIT: did this run change the unit, its settings or (but not for etcd) pyctl?
  local c
  for c in "${CHANGED[@]}"; do
    case "$c" in
      "/etc/systemd/system/$1.service"|"$CONF/$(settings_of "$1")") return 0 ;;
      "$VENV") [ "$1" = pyctl-etcd ] || return 0 ;;
    esac
  done
  return 1
}

services() {
  local units=() u
  if [ "$ROLE" = server ]; then
    if [ -z "$EXTERNAL_ETCD" ]; then
      units+=(pyctl-etcd.service)
      run install -d -o etcd -g etcd -m 700 "$ETCD_DATA_DIR"
      # Debian's own etcd.service starts on install with the same ports: ours replaces it.
      if system && systemctl is-enabled --quiet etcd.service 2>/dev/null; then
        say "disabling Debian's etcd.service (pyctl-etcd.service replaces it)"
        systemctl disable --now etcd.service
      fi
    fi
    units+=(pyctl-controlplane.service)  # its user: made by credentials()
  else
    units+=(pyctl-agent.service)
    run install -d -m 700 "$STATE_DIR"
    # Debian's haproxy.service starts on install with an empty configuration: the agent runs
    # its own HAProxy (the ingress proxy), so the one this run installed is turned off.
    if [ "$HAPROXY_NEW" = 1 ] && system && systemctl is-enabled --quiet haproxy.service 2>/dev/null; then
      say "disabling Debian's haproxy.service (pyctl-agent runs the node's ingress proxy)"
      systemctl disable --now haproxy.service
    fi
  fi
  say "enabling ${units[*]}"
  run systemctl daemon-reload
  run systemctl enable --quiet "${units[@]}"
  [ "$START" = 1 ] || { say "not starting (--no-start)"; return; }
  for u in "${units[@]}"; do
    # --no-block: a new etcd member waits for its peers, which may not be installed yet.
    if changed "${u%.service}"; then
      run systemctl restart --no-block "$u"
    else
      run systemctl start --no-block "$u"
    fi
  done
}

ready() {  # report whether the control plane answers; a new etcd cluster may still wait for peers
  [ "$ROLE" = server ] && [ "$START" = 1 ] && system || return 0
  local url="$API_URL/readyz"
  for _ in $(seq 1 60); do
    if curl -sf --max-time 2 --cacert "$PKI_DIR/ca.crt" "$url" >/dev/null; then
      say "control plane ready at $API_URL"; READY=1; return 0
    fi
    sleep 1
  done
  echo "$PROG: the control plane is not ready yet (a new etcd cluster waits for a quorum of members);" \
       "see 'journalctl -u pyctl-etcd -u pyctl-controlplane'" >&2
}

addons() {  # the default IngressClass (once; an operator's later changes stay)
  [ "$ROLE" = server ] && [ "$START" = 1 ] || return 0
  local cmd=("$VENV/bin/python" -m pyctl.addons --kubeconfig "$ADMIN_KUBECONFIG")
  if ! system; then
    echo "    would run: ${cmd[*]}"
  elif [ "$READY" = 1 ]; then
    say "default IngressClass"
    "${cmd[@]}" || echo "$PROG: could not create the default IngressClass; run later: ${cmd[*]}" >&2
  else
    echo "$PROG: once the control plane is ready, run: ${cmd[*]}" >&2
  fi
}

next_steps() {
  [ "$ROLE" = server ] || return 0
  say "next, for each worker: a join token and the command that joins with it (replace 127.0.0.1 by"
  echo "    this host's address the workers reach; --token and --ca-cert-hash go to install.sh --role agent):"
  echo "    sudo $VENV/bin/pyctl --kubeconfig $ADMIN_KUBECONFIG token create --ttl 2h"
}

packages
virtualenv
files
credentials
services
ready
addons
next_steps
say "done: $ROLE${ROOT:+ (files under $ROOT)}"
