"""ServiceAccount admission: a new pod gets its ServiceAccount's API credentials mounted.

As kube-apiserver's ServiceAccount admission plugin, on pod create (before validation): unless
`automountServiceAccountToken: false` on the pod (or, when the pod says nothing, on its
ServiceAccount), the pod gets a projected volume `kube-api-access-<5 random>`, mounted read-only
at /var/run/secrets/kubernetes.io/serviceaccount in every container and init container that
does not mount something there already:

    token      a ServiceAccount token for the pod (the node agent requests and refreshes it)
    ca.crt     from the ConfigMap kube-root-ca.crt (published in every namespace)
    namespace  the pod's namespace (downward API)

A pod naming a ServiceAccount that does not exist is refused, in kube's words, unless it is
`default`, which the serviceaccount controller makes in every namespace (a pod created in the
instant after its namespace then still starts once the account is there). The server mounts
tokens only when it can issue them (a signing key): `enabled` says so.
"""

from __future__ import annotations

import secrets
import string
from typing import Any, Callable

from ...resources.registry import ResourceInfo
from .. import errors

MOUNT_PATH = "/var/run/secrets/kubernetes.io/serviceaccount"
VOLUME_PREFIX = "kube-api-access-"
TOKEN_EXPIRATION = 3607  # kube's: an hour, and a few seconds that tell the kubelet's tokens apart
ROOT_CA = "kube-root-ca.crt"
_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"  # kube's utilrand alphabet: no vowels, no lookalikes

Lookup = Callable[[str, str], "dict[str, Any] | None"]
"""(namespace, name) -> the ServiceAccount, or None."""


def volume(name: str) -> dict[str, Any]:
    return {"name": name, "projected": {"defaultMode": 0o644, "sources": [
        {"serviceAccountToken": {"expirationSeconds": TOKEN_EXPIRATION, "path": "token"}},
        {"configMap": {"name": ROOT_CA, "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
        {"downwardAPI": {"items": [{"path": "namespace",
                                    "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"}}]}},
    ]}}


def _automount(pod_spec: dict[str, Any], account: dict[str, Any] | None) -> bool:
    if pod_spec.get("automountServiceAccountToken") is not None:
        return bool(pod_spec["automountServiceAccountToken"])
    if account is not None and account.get("automountServiceAccountToken") is not None:
        return bool(account["automountServiceAccountToken"])
    return True


def admit(info: ResourceInfo, pod: dict[str, Any], lookup: Lookup) -> None:
    """Fill in the pod's ServiceAccount token volume (in place); 403 for a missing account."""
    spec = pod.setdefault("spec", {})
    md = pod.get("metadata") or {}
    namespace, name = md.get("namespace") or "default", spec.get("serviceAccountName") or "default"
    account = lookup(namespace, name)
    if account is None and name != "default":
        raise errors.ApiError(403, f'pods "{md.get("name", "")}" is forbidden: error looking up service account '
                                   f'{namespace}/{name}: serviceaccount "{name}" not found', "Forbidden",
                              {"name": md.get("name", ""), "kind": info.resource})
    if not _automount(spec, account):
        return
    if any(v.get("name", "").startswith(VOLUME_PREFIX) for v in spec.get("volumes") or []):
        return  # already has one (a pod object sent back as it was read)
    containers = [c for field in ("initContainers", "containers") for c in spec.get(field) or []]
    wanting = [c for c in containers if not any(m.get("mountPath") == MOUNT_PATH for m in c.get("volumeMounts") or [])]
    if not wanting:
        return
    taken = {v.get("name") for v in spec.get("volumes") or []}
    volume_name = VOLUME_PREFIX + "".join(secrets.choice(_ALPHABET) for _ in range(5))
    while volume_name in taken:  # as unlikely as it is harmless to check
        volume_name = VOLUME_PREFIX + "".join(secrets.choice(string.ascii_lowercase) for _ in range(5))
    spec.setdefault("volumes", []).append(volume(volume_name))
    for c in wanting:
        c.setdefault("volumeMounts", []).append({"name": volume_name, "readOnly": True, "mountPath": MOUNT_PATH})
