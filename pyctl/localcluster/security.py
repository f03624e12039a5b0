"""A local cluster's security: its CA and encryption key under the state dir, the control plane
flags that turn on TLS, RBAC and Secrets encryption, the admin's client, the bootstrap token
agents join with, and the cluster's entries in the user's kubeconfig.

All of it lives in the cluster's state dir (`pki/`, `encryption-config.yaml`), so `down`
removes it with the rest, and each file is made only where missing: `up` on an existing
cluster never makes a new CA or key.
"""

from __future__ import annotations

import base64
import ipaddress
import ssl
from pathlib import Path

from controlplane.auth import bootstrap_token as bt
from controlplane.auth.pki import PkiPaths, ensure_pki
from controlplane.store import encryption

from ..bootstraptokens import create_token  # the same Secret `pyctl token create` makes
from ..client import ApiClient
from ..config import Connection, KubeConfig, config_path
from .state import Cluster

JOIN_TTL = 3600.0
"""Agents join within one `up`; the launcher deletes the token afterwards anyway."""


def pki(c: Cluster) -> PkiPaths:
    return PkiPaths(c.dir / "pki")


def encryption_config(c: Cluster) -> Path:
    return c.dir / "encryption-config.yaml"


def ensure_files(c: Cluster) -> None:
    """The CA, serving cert (SANs: the bridge address, 127.0.0.1, localhost), admin cert and
    encryption key, where missing. Made here rather than by the control plane so the SANs
    are right from the first start and the kubeconfig can be written from them."""
    if not c.secure:
        return
    # The bridge address (agents, pods) and the `kubernetes` Service's ClusterIP (pods).
    ensure_pki(c.dir / "pki", (c.host_ip, str(ipaddress.ip_network(c.service_cidr)[1])))
    if not encryption_config(c).exists():
        encryption.write_new_config(encryption_config(c))


def controlplane_flags(c: Cluster) -> list[str]:
    if not c.secure:
        return []
    return ["--pki-dir", str(c.dir / "pki"), "--tls-san", c.host_ip, "--authorization-mode", "RBAC",
            "--encryption-provider-config", str(encryption_config(c))]


def admin_connection(c: Cluster) -> Connection:
    if not c.secure:
        return Connection(server=c.api_url)
    p = pki(c)
    return Connection(server=c.api_url, ca_file=str(p.ca_cert), cert_file=str(p.admin_cert),
                      key_file=str(p.admin_key))


def admin_client(c: Cluster, timeout: float = 10.0) -> ApiClient:
    return ApiClient(admin_connection(c), timeout=timeout)


def ca_context(c: Cluster) -> ssl.SSLContext | None:
    """What verifies the API server's certificate (None: plain HTTP). Without the CA file (a
    cluster whose first `up` stopped early) nothing verifies, so the API counts as down."""
    if not c.secure:
        return None
    ca = pki(c).ca_cert
    return ssl.create_default_context(cafile=str(ca)) if ca.exists() else ssl.create_default_context()


def join_flags(c: Cluster, client: ApiClient) -> tuple[list[str], str]:
    """A new bootstrap token and the agent flags that join with it (pinning the CA by hash)."""
    token = create_token(client, JOIN_TTL, f"pyctl cluster up {c.name}")
    ca_hash = bt.ca_cert_hash(pki(c).ca_cert.read_bytes())
    return ["--token", token, "--ca-cert-hash", ca_hash,
            "--join-server", f"{c.host_ip}:{c.gateway_port + 1}"], token


def has_joined(node_state_dir: str) -> bool:
    """Whether the node already holds its certificate (agent/credentials.py's layout)."""
    d = Path(node_state_dir) / "pki"
    return (d / "node.pem").exists() and (d / "ca.crt").exists()


def _b64(path: Path) -> str:
    return base64.b64encode(path.read_bytes()).decode()


def write_client_config(c: Cluster, kubeconfig: str | None) -> str:
    """Add (or refresh) cluster, user and context `c.name` and make it current; other
    entries are kept."""
    cfg = KubeConfig.load(config_path(kubeconfig))
    user = f"{c.name}-admin"
    if c.secure:
        p = pki(c)
        cfg.set_cluster(c.name, server=c.api_url, **{"certificate-authority-data": _b64(p.ca_cert)})
        cfg.set_user(user, **{"client-certificate-data": _b64(p.admin_cert),
                              "client-key-data": _b64(p.admin_key)})
        cfg.set_context(c.name, cluster=c.name, user=user, namespace="default")
    else:
        cfg.set_cluster(c.name, server=c.api_url, **{"certificate-authority-data": ""})
        cfg.set_context(c.name, cluster=c.name, user="", namespace="default")
    cfg.use_context(c.name)
    cfg.save()
    return cfg.path


def forget_client_config(c: Cluster, kubeconfig: str | None) -> None:
    cfg = KubeConfig.load(config_path(kubeconfig))
    ours = cfg.cluster(c.name)
    if ours is None or ours.get("server") != c.api_url:
        return  # someone else's entry by that name
    for section, name in (("clusters", c.name), ("contexts", c.name), ("users", f"{c.name}-admin")):
        cfg.data[section] = [e for e in cfg.data[section] if e.get("name") != name]
    if cfg.data.get("current-context") == c.name:
        cfg.data["current-context"] = ""
    cfg.save()


def describe(c: Cluster) -> str:
    if not c.secure:
        return "security: OFF (created with --insecure: plain HTTP, no authentication, Secrets in clear)"
    return (f"security: HTTPS (CA {pki(c).ca_cert}), client certificates + RBAC, node join by "
            f"token, Secrets encrypted at rest ({encryption_config(c)})")
