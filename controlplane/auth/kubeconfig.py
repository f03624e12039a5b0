"""Writing the admin's kubeconfig: the cluster CA inline, and the admin's client certificate."""

from __future__ import annotations

import base64
import os
from pathlib import Path
from typing import Any

import yaml

from .pki import PkiPaths


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def admin_kubeconfig(server: str, paths: PkiPaths, name: str = "pyctl") -> dict[str, Any]:
    """A kubeconfig kubectl and pyctl both read: certificate-authority-data, client cert and key."""
    return {
        "apiVersion": "v1", "kind": "Config", "preferences": {},
        "clusters": [{"name": name, "cluster": {
            "server": server, "certificate-authority-data": _b64(paths.ca_cert.read_bytes())}}],
        "users": [{"name": f"{name}-admin", "user": {
            "client-certificate-data": _b64(paths.admin_cert.read_bytes()),
            "client-key-data": _b64(paths.admin_key.read_bytes())}}],
        "contexts": [{"name": name, "context": {"cluster": name, "user": f"{name}-admin"}}],
        "current-context": name,
    }


def write_kubeconfig(path: str | Path, doc: dict[str, Any]) -> None:
    """Written 0600 (it holds a private key), replacing the file in one rename."""
    path = Path(path).expanduser()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        yaml.safe_dump(doc, f, sort_keys=False)
    os.replace(tmp, path)
