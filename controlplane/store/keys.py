"""The etcd key layout: the one place that knows how objects map to keys.

`/registry/<resource>/<namespace>/<name>` for namespaced kinds and
`/registry/<resource>/<name>` for cluster-scoped ones, as kube-apiserver lays them out.
A custom resource's `<resource>` is `<group>/<plural>` (kube's /registry/<group>/<plural>/...),
so a CRD whose plural is a built-in's (`pods.example.com`) never shares its keys. A built-in
resource name never has a dot and a CRD's group always has one: that tells the two apart.
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


def resource_name(group: str, plural: str, custom: bool) -> str:
    """The `<resource>` part of a resource's keys: its plural, `<group>/<plural>` if custom."""
    return f"{group}/{plural}" if custom else plural


def resource_of(key: str) -> str:
    """The resource part of a key under ROOT ('' for keys outside the registry)."""
    if not key.startswith(ROOT):
        return ""
    first, _, rest = key[len(ROOT):].partition("/")
    if "." in first:  # an API group: the plural follows
        return f"{first}/{rest.split('/', 1)[0]}"
    return first


def split_key(key: str) -> tuple[str, str, str]:
    """(resource, namespace, name) of a key under ROOT; namespace '' for cluster-scoped."""
    parts = key[len(ROOT):].split("/")
    if "." in parts[0]:
        parts = [f"{parts[0]}/{parts[1]}", *parts[2:]]
    if len(parts) == 3:
        return parts[0], parts[1], parts[2]
    return parts[0], "", parts[-1]


# Keys that are not API objects but live beside them (Services' ClusterIP allocations).
def internal_key(*parts: str) -> str:
    return "/pyctl/" + "/".join(parts)
