"""The one place that turns a resource descriptor into a URL path, and an object into a key."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from ..resources.registry import ResourceInfo


def resource_path(info: ResourceInfo, namespace: str = "", name: str = "", subresource: str = "") -> str:
    """`/api/v1/namespaces/ns/pods/name/status`; namespace '' on a namespaced kind means all."""
    parts = ["/api", info.version] if not info.group else ["/apis", info.group, info.version]
    if info.namespaced and namespace:
        parts += ["namespaces", quote(namespace, safe="")]
    parts.append(info.resource)
    if name:
        parts.append(quote(name, safe=""))
        if subresource:
            parts.append(subresource)
    return "/".join(parts)


def object_key(obj: dict[str, Any]) -> str:
    """`namespace/name`, or `name` for cluster-scoped objects: how caches and queues name objects."""
    md = obj.get("metadata") or {}
    ns = md.get("namespace") or ""
    return f"{ns}/{md.get('name', '')}" if ns else str(md.get("name", ""))


def split_key(key: str) -> tuple[str, str]:
    ns, _, name = key.rpartition("/")
    return ns, name
