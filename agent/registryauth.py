"""Registry credentials: the node's auth file and a pod's imagePullSecrets, as host -> (user,
password), and the pod whose pull is under way (POD_AUTHS).

Apart from the registry client (images/registry.py) so that the pod config code, which every
agent runs, reads pull secrets without loading an HTTP client it needs only to pull.
"""

from __future__ import annotations

import base64
import json
import re
from contextvars import ContextVar
from typing import Any

Auths = dict[str, tuple[str, str]]  # registry host -> (user, password)
POD_AUTHS: ContextVar[Auths] = ContextVar("pod_registry_auths", default={})
"""The credentials of the pod whose image the current task pulls (from its imagePullSecrets);
set by the agent around one container's pull, merged over the node's auth file."""


def load_auths(path: str) -> Auths:
    """Read `{"auths": {host: {"auth": b64(user:pass)} | {"username", "password"}}}`."""
    try:
        with open(path) as f:
            doc = json.load(f)
    except FileNotFoundError:
        return {}
    return parse_auths(doc)


def parse_auths(doc: dict[str, Any]) -> Auths:
    """The credentials of a Docker config.json document (also a pod's dockerconfigjson secret)."""
    out: Auths = {}
    for key, entry in (doc.get("auths") or {}).items():
        # Keys may be URLs ("https://index.docker.io/v1/"); the host is what matters.
        host = re.sub(r"^[a-z]+://", "", key).split("/", 1)[0]
        if host in ("index.docker.io", "registry-1.docker.io"):
            host = "docker.io"
        if entry.get("auth"):
            user, _, pw = base64.b64decode(entry["auth"]).decode().partition(":")
        else:
            user, pw = entry.get("username", ""), entry.get("password", "")
        if user:
            out[host] = (user, pw)
    return out
