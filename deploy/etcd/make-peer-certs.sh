#!/usr/bin/env bash
# Makes the certificates etcd members use to authenticate each other (peer TLS): one CA, and
# for each member a key and certificate whose subjectAltName is the member's peer IP.
# Usage: make-peer-certs.sh OUTDIR NAME=IP...   e.g. make-peer-certs.sh pki n1=10.0.0.1 n2=10.0.0.2 n3=10.0.0.3
# Writes OUTDIR/ca.crt, OUTDIR/ca.key (keep it off the members) and OUTDIR/NAME/{ca.crt,peer.crt,peer.key},
# the three files `install.sh --etcd-pki DIR` expects on member NAME. An existing CA is reused,
# so a member added later gets a certificate the others trust.
set -euo pipefail
[ $# -ge 2 ] || { echo "usage: $0 OUTDIR NAME=IP..." >&2; exit 2; }
out=$1; shift
for m in "$@"; do
  [[ $m =~ ^[a-z0-9][-a-z0-9.]*=[0-9]{1,3}(\.[0-9]{1,3}){3}$ ]] || { echo "$0: expected NAME=IPv4, got '$m'" >&2; exit 2; }
done
mkdir -p "$out"
umask 077
EC=(-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes)
if [ ! -f "$out/ca.key" ]; then
  openssl req -x509 "${EC[@]}" -days 3650 -subj "/CN=pyctl-etcd-peer-ca" \
    -keyout "$out/ca.key" -out "$out/ca.crt" 2>/dev/null
fi
for m in "$@"; do
  name=${m%%=*} ip=${m#*=}
  mkdir -p "$out/$name"
  openssl req "${EC[@]}" -subj "/CN=$name" -keyout "$out/$name/peer.key" -out "$out/$name/peer.csr" 2>/dev/null
  # A peer certificate serves (the member's peer port) and is presented as a client (to the others).
  openssl x509 -req -in "$out/$name/peer.csr" -CA "$out/ca.crt" -CAkey "$out/ca.key" -CAcreateserial \
    -days 825 -out "$out/$name/peer.crt" 2>/dev/null -extfile <(printf '%s\n' \
      "subjectAltName=IP:$ip" "extendedKeyUsage=serverAuth,clientAuth" "keyUsage=digitalSignature,keyEncipherment")
  rm "$out/$name/peer.csr"
  cp "$out/ca.crt" "$out/$name/ca.crt"
  echo "$out/$name: peer certificate for $name ($ip)"
done
