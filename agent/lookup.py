"""A pod's referenced Secrets and ConfigMaps, looked up by key with the kubelet's errors.

The gateway sends them with the pod (podconfig.py keeps them); env (podconfig.py) and config
volumes (configvolumes.py) read them through a `Lookup`.
"""

from __future__ import annotations

import base64

from .runtime.bundle import ConfigError
from .types import Obj

Ref = tuple[str, str, str]          # (kind, namespace, name)
Objects = dict[Ref, "Obj | None"]    # None: the object does not exist


def data_of(obj: Obj, secret: bool) -> dict[str, bytes]:
    """An object's keys and values as bytes: Secret data and ConfigMap binaryData are base64."""
    out: dict[str, bytes] = {}
    for k, v in (obj.get("data") or {}).items():
        out[k] = base64.b64decode(v) if secret else str(v).encode()
    for k, v in (obj.get("binaryData") or {}).items():
        out[k] = base64.b64decode(v)
    return out


def _kind_word(kind: str) -> str:
    return "secret" if kind == "Secret" else "configmap"


class Lookup:
    """One pod's referenced objects, with the kubelet's errors for what is missing."""

    def __init__(self, pod: Obj, objects: Objects) -> None:
        self.pod = pod
        self.ns = (pod.get("metadata") or {}).get("namespace") or "default"
        self.objects = objects

    def data(self, kind: str, name: str, optional: bool) -> dict[str, bytes] | None:
        """The object's data; None when it is absent and optional; ConfigError when required."""
        obj = self.objects.get((kind, self.ns, name))
        if obj is None:
            if optional:
                return None
            raise ConfigError(f'{_kind_word(kind)} "{name}" not found')
        return data_of(obj, kind == "Secret")

    def key(self, kind: str, name: str, key: str, optional: bool) -> bytes | None:
        data = self.data(kind, name, optional)
        if data is None:
            return None
        if key not in data:
            if optional:
                return None
            raise ConfigError(f"couldn't find key {key} in {kind} {self.ns}/{name}")
        return data[key]
