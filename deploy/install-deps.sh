#!/usr/bin/env bash
# Installs what pyctl needs on a fresh Debian 12 machine (as root): the system packages
# (etcd, runc, conmon, CNI plugins, haproxy for the ingress proxy, ...) and a virtualenv at
# .venv with pyctl installed.
# Idempotent: a second run only checks.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(etcd-server etcd-client runc conmon containernetworking-plugins busybox-static
              docker-registry iproute2 iptables util-linux e2fsprogs procps curl zstd openssl python3-venv
              haproxy)
# Only for the test suite (`install-deps.sh test`): the dashboard's tests drive a real headless
# browser; Debian builds chromedriver from the same source as its chromium, so they always match.
TEST_APT_PACKAGES=(chromium chromium-driver)
if [[ ",${1:-}," == *,test,* ]]; then
  APT_PACKAGES+=("${TEST_APT_PACKAGES[@]}")
fi

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "==> installing system packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  echo "==> creating virtualenv .venv"
  "$PY" -m venv .venv
fi
echo "==> installing pyctl into .venv ${1:+with extras [$1]}"
.venv/bin/pip install -q --upgrade pip >/dev/null
.venv/bin/pip install -q -e ".${1:+[$1]}"
