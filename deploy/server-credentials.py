"""A control-plane host's secrets, made by deploy/install.sh --role server before the first
start: the cluster CA and certificates (--pki-dir), the Secrets encryption key and the admin
kubeconfig. Each is made only where missing and never overwritten, so a second install keeps
the cluster's identity; it runs as root with the virtualenv's python (pyctl importable).

usage: server-credentials.py --pki-dir DIR --encryption-config FILE --admin-kubeconfig FILE
                             --server https://HOST:PORT [--tls-san NAMES]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from controlplane.auth.kubeconfig import admin_kubeconfig, write_kubeconfig
from controlplane.auth.nodecert import ensure_kubelet_client
from controlplane.auth.pki import ensure_pki
from controlplane.store.encryption import write_new_config


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="server-credentials.py")
    p.add_argument("--pki-dir", required=True)
    p.add_argument("--tls-san", default="")
    p.add_argument("--encryption-config", required=True)
    p.add_argument("--admin-kubeconfig", required=True)
    p.add_argument("--server", required=True)
    a = p.parse_args(argv)
    sans = tuple(h.strip() for h in a.tls_san.split(",") if h.strip())
    paths = ensure_pki(a.pki_dir, sans)
    ensure_kubelet_client(paths)  # the control plane would make it at start; its user may not write here
    made = []
    enc = Path(a.encryption_config)
    if not enc.exists():
        enc.parent.mkdir(parents=True, exist_ok=True)
        write_new_config(enc)
        made.append(str(enc))
    if not Path(a.admin_kubeconfig).exists():
        write_kubeconfig(a.admin_kubeconfig, admin_kubeconfig(a.server, paths))
        made.append(a.admin_kubeconfig)
    print(f"    cluster CA: {paths.ca_cert}" + (f"; made {', '.join(made)}" if made else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
