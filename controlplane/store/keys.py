"""The etcd key layout: the one place that knows how objects map to keys.

`/registry/<resource>/<namespace>/<name>` for namespaced kinds and
`/registry/<resource>/<name>` for cluster-scoped ones, as kube-apiserver lays them out.
"""

from __future__ import annotations

ROOT = "/registry/"


def object_key(resource: str, namespace: str | None, name: str) -> str:
    if namespace:
        return f"{ROOT}{resource}/{namespace}/{name}"
    return f"{ROOT}{resource}/{name}"


def collection_prefix(resource: str, namespace: str | None = None) -> str:
    """Prefix of every key of `resource` (in `namespace`, when given); always ends with '/'."""
    if namespace:
        return f"{ROOT}{resource}/{namespace}/"
    return f"{ROOT}{resource}/"


def resource_of(key: str) -> str:
    """The resource segment of a key under ROOT ('' for keys outside the registry)."""
    if not key.startswith(ROOT):
        return ""
    return key[len(ROOT):].split("/", 1)[0]


# Keys that are not API objects but live beside them (Services' ClusterIP allocations).
def internal_key(*parts: str) -> str:
    return "/pyctl/" + "/".join(parts)
