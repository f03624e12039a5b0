"""Admission for persistent storage, as kube-apiserver's plugins of the same names do it:

* DefaultStorageClass: a claim created without a storageClassName gets the default class
  (`storageclass.kubernetes.io/is-default-class: "true"`; the newest one if several are);
* StorageObjectInUseProtection: a new claim carries `kubernetes.io/pvc-protection`, a new volume
  `kubernetes.io/pv-protection`, so neither goes while in use (the protection controllers
  remove the finalizer once nothing uses it);
* PersistentVolumeClaimResize: a claim's request grows only if its class allows expansion.
"""

from __future__ import annotations

from typing import Any, Protocol, Sequence

from ...machinery import volumes as v
from ...resources.registry import ResourceInfo
from .. import errors

RESOURCES = ("persistentvolumeclaims", "persistentvolumes")
RESIZE_REFUSED = ("only dynamically provisioned pvc can be resized and the storageclass that provisions the pvc "
                  "must support resize")


class _Entry(Protocol):
    obj: dict[str, Any]


class _Cache(Protocol):
    def get(self, key: str) -> _Entry | None: ...

    def list(self, resource: str, namespace: str = "") -> Sequence[Any]: ...


def _classes(cache: _Cache) -> list[dict[str, Any]]:
    return [e.obj for e in cache.list("storageclasses")]


def _protect(obj: dict[str, Any], finalizer: str) -> None:
    md = obj.setdefault("metadata", {})
    finalizers = list(md.get("finalizers") or [])
    if finalizer not in finalizers:
        md["finalizers"] = finalizers + [finalizer]


def admit(cache: _Cache, info: ResourceInfo, obj: dict[str, Any], old: dict[str, Any] | None) -> None:
    """Mutate `obj` as the plugins do, or raise ApiError to refuse it."""
    if info.resource == "persistentvolumes":
        if old is None:
            _protect(obj, v.PV_PROTECTION)
        return
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        return
    if old is None:
        _protect(obj, v.PVC_PROTECTION)
        if spec.get("storageClassName") is None and v.BETA_CLASS not in v.annotations_of(obj):
            default = v.default_class(_classes(cache))
            if default is not None:
                spec["storageClassName"] = default["metadata"]["name"]
        return
    if v.requested_bytes(obj) > v.requested_bytes(old):
        name = v.class_of(old)
        sc = next((c for c in _classes(cache) if c["metadata"].get("name") == name), None) if name else None
        if sc is None or sc.get("allowVolumeExpansion") is not True or not (old.get("spec") or {}).get("volumeName"):
            md = obj.get("metadata") or {}
            raise errors.ApiError(403, f'{info.group_resource} "{md.get("name", "")}" is forbidden: {RESIZE_REFUSED}',
                                  "Forbidden", {"name": md.get("name", ""), "kind": info.resource})
