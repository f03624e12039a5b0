"""Patch metadata for the kinds pyctl serves: how each list and map field merges.

This module owns one fact: for a (type, field) pair, is the field a struct with
known fields, a list merged by key, a set of scalars, or atomic?  Strategic
merge patch (``patch.py``) and server-side apply (``apply.py``) both read it,
so client and server agree on list merges.

The values are the upstream Go struct tags as published in the Kubernetes 1.37
OpenAPI: ``x-kubernetes-patch-strategy`` / ``x-kubernetes-patch-merge-key``
(strategic merge patch) and ``x-kubernetes-list-type`` /
``x-kubernetes-list-map-keys`` / ``x-kubernetes-map-type`` (server-side apply).

Only fields that differ from the defaults are listed.  The defaults, which
match upstream for fields without tags, are:

* a map merges key by key (both SMP and SSA);
* a list is atomic: SMP replaces it whole and SSA owns it as one field.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

Shape = Literal["struct", "keyed", "set", "atomic"]


@dataclass(frozen=True)
class FieldMeta:
    """How one field merges.

    shape:
      ``struct``  a map whose fields are described by ``SCHEMA[type]``;
      ``keyed``   a list of maps; SSA identifies items by ``keys``, SMP merges
                  them by ``merge_key`` (or replaces the list if it has none);
      ``set``     a list of scalars; SSA owns each value, SMP unions the list
                  only if ``primitive_merge``;
      ``atomic``  SSA owns the value as a whole; SMP replaces it if it is a
                  list (maps still merge: Go has no map-level replace tag here).
    """

    shape: Shape
    type: str | None = None  # type of the value (struct) or of each item (keyed)
    merge_key: str | None = None  # SMP patchMergeKey
    keys: tuple[str, ...] = ()  # SSA listMapKeys
    key_defaults: tuple[tuple[str, Any], ...] = ()  # schema defaults of key fields
    primitive_merge: bool = False  # SMP patchStrategy=merge on a list of scalars
    retain_keys: bool = False  # SMP patchStrategy retainKeys (map, or each item)

    @property
    def smp_merges_list(self) -> bool:
        """True when SMP merges this list instead of replacing it."""
        return self.merge_key is not None or self.primitive_merge


def struct(type_name: str, *, retain_keys: bool = False) -> FieldMeta:
    return FieldMeta("struct", type=type_name, retain_keys=retain_keys)


def keyed(
    item_type: str | None,
    merge_key: str,
    *more_keys: str,
    smp: bool = True,
    retain_keys: bool = False,
    defaults: dict[str, Any] | None = None,
) -> FieldMeta:
    """A list map. ``smp=False``: SSA keys it but SMP replaces it (no patch tag)."""
    return FieldMeta(
        "keyed",
        type=item_type,
        merge_key=merge_key if smp else None,
        keys=(merge_key, *more_keys),
        key_defaults=tuple((defaults or {}).items()),
        retain_keys=retain_keys,
    )


def scalar_set(*, smp_merge: bool) -> FieldMeta:
    return FieldMeta("set", primitive_merge=smp_merge)


ATOMIC = FieldMeta("atomic")

# Container ports and service ports are keyed by (port, protocol) in SSA;
# protocol has a schema default, so an applied item without it still has a key.
_TCP = {"protocol": "TCP"}

_CONTAINER: dict[str, FieldMeta] = {
    "ports": keyed("ContainerPort", "containerPort", "protocol", defaults=_TCP),
    "env": keyed("EnvVar", "name"),
    "volumeMounts": keyed("VolumeMount", "mountPath"),
    "volumeDevices": keyed(None, "devicePath"),
    "resources": struct("ResourceRequirements"),
}


def _object(spec: str | None = None, status: str | None = None) -> dict[str, FieldMeta]:
    fields = {"metadata": struct("ObjectMeta")}
    if spec:
        fields["spec"] = struct(spec)
    if status:
        fields["status"] = struct(status)
    return fields


_CONDITIONS = {"conditions": keyed(None, "type")}

# type name -> field name -> FieldMeta
SCHEMA: dict[str, dict[str, FieldMeta]] = {
    # top-level kinds
    "Namespace": _object(None, "NamespaceStatus"),
    "Node": _object("NodeSpec", "NodeStatus"),
    "Pod": _object("PodSpec", "PodStatus"),
    "Deployment": _object("DeploymentSpec", "DeploymentStatus"),
    "ReplicaSet": _object("ReplicaSetSpec", "ReplicaSetStatus"),
    "Service": _object("ServiceSpec", "ServiceStatus"),
    "Endpoints": _object(),  # subsets: atomic
    "Event": {**_object(), "involvedObject": ATOMIC, "related": ATOMIC},
    "ConfigMap": _object(),
    "Secret": _object(),
    "EndpointSlice": _object(),  # endpoints, ports: atomic
    "DaemonSet": _object("DaemonSetSpec", "DaemonSetStatus"),
    "StatefulSet": _object("StatefulSetSpec", "StatefulSetStatus"),
    "ControllerRevision": _object(),
    # shared
    "ObjectMeta": {
        "finalizers": scalar_set(smp_merge=True),
        "ownerReferences": keyed("OwnerReference", "uid"),
    },
    "PodTemplateSpec": {"metadata": struct("ObjectMeta"), "spec": struct("PodSpec")},
    # core/v1 Pod
    "PodSpec": {
        "containers": keyed("Container", "name"),
        "initContainers": keyed("Container", "name"),
        "ephemeralContainers": keyed("Container", "name"),
        "volumes": keyed("Volume", "name", retain_keys=True),
        "imagePullSecrets": keyed("LocalObjectReference", "name"),
        "hostAliases": keyed(None, "ip"),
        "topologySpreadConstraints": keyed(
            "TopologySpreadConstraint", "topologyKey", "whenUnsatisfiable"
        ),
        "resourceClaims": keyed(None, "name", retain_keys=True),
        "schedulingGates": keyed(None, "name"),
        "evictionResponders": keyed("EvictionResponder", "name"),
        "nodeSelector": ATOMIC,
        "affinity": struct("Affinity"),
        "resources": struct("ResourceRequirements"),
        # tolerations, readinessGates, dnsConfig lists: atomic by default
    },
    "Container": _CONTAINER,  # also initContainers and ephemeralContainers
    "EnvVar": {"valueFrom": struct("EnvVarSource")},
    "EnvVarSource": {
        "configMapKeyRef": ATOMIC,
        "secretKeyRef": ATOMIC,
        "fieldRef": ATOMIC,
        "resourceFieldRef": ATOMIC,
        "fileKeyRef": ATOMIC,
    },
    "VolumeMount": {"bindMountOptions": scalar_set(smp_merge=False)},
    "ResourceRequirements": {"claims": keyed(None, "name", smp=False)},
    "Affinity": {"nodeAffinity": struct("NodeAffinity")},
    "NodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": ATOMIC},
    "TopologySpreadConstraint": {"labelSelector": ATOMIC},
    "PodStatus": {
        **_CONDITIONS,
        "podIPs": keyed(None, "ip"),
        # hostIPs: SMP merges by ip; SSA calls it atomic.  Keyed here for both,
        # which only makes SSA ownership finer-grained than upstream.
        "hostIPs": keyed(None, "ip"),
        "resourceClaimStatuses": keyed(None, "name", retain_keys=True),
        # containerStatuses and friends: atomic
    },
    # apps/v1
    "DeploymentSpec": {
        "selector": ATOMIC,
        "strategy": struct("DeploymentStrategy", retain_keys=True),
        "template": struct("PodTemplateSpec"),
    },
    "DeploymentStatus": _CONDITIONS,
    "ReplicaSetSpec": {"selector": ATOMIC, "template": struct("PodTemplateSpec")},
    "ReplicaSetStatus": _CONDITIONS,
    "DaemonSetSpec": {"selector": ATOMIC, "template": struct("PodTemplateSpec")},
    "DaemonSetStatus": _CONDITIONS,
    # volumeClaimTemplates: atomic
    "StatefulSetSpec": {"selector": ATOMIC, "template": struct("PodTemplateSpec")},
    "StatefulSetStatus": _CONDITIONS,
    # core/v1 others
    "ServiceSpec": {
        "ports": keyed("ServicePort", "port", "protocol", defaults=_TCP),
        "selector": ATOMIC,
    },
    "ServiceStatus": _CONDITIONS,
    "NodeSpec": {"podCIDRs": scalar_set(smp_merge=True)},  # taints: atomic
    "NodeStatus": {**_CONDITIONS, "addresses": keyed(None, "type")},
    "NamespaceStatus": _CONDITIONS,
}

# Types whose whole value is one field for SSA (x-kubernetes-map-type: atomic).
ATOMIC_TYPES: frozenset[str] = frozenset(
    {"OwnerReference", "LocalObjectReference", "EvictionResponder"}
)

KINDS: frozenset[str] = frozenset(
    {
        "Namespace", "Node", "Pod", "Deployment", "ReplicaSet", "Service",
        "Endpoints", "Event", "ConfigMap", "Secret", "EndpointSlice",
        "DaemonSet", "StatefulSet", "ControllerRevision",
    }
)


# Kinds served from CustomResourceDefinitions: their types come from the CRD's schema
# (x-kubernetes-list-type, -list-map-keys, -map-type), set by the API server while it serves them.
# (apiVersion, kind) -> root type name; type names are "<apiVersion>/<kind>" and that plus a
# JSON path, so they never meet the built-in names above.
_CUSTOM_ROOTS: dict[tuple[str, str], str] = {}
_CUSTOM: dict[str, dict[str, FieldMeta]] = {}


def set_custom_types(api_version: str, kind: str, types: dict[str, dict[str, FieldMeta]] | None) -> None:
    """Use ``types`` (root first, from ``custom_types``) for a custom kind; None forgets it."""
    root = f"{api_version}/{kind}"
    for name in [n for n in _CUSTOM if n == root or n.startswith(root + ".")]:
        del _CUSTOM[name]
    if types is None:
        _CUSTOM_ROOTS.pop((api_version, kind), None)
        return
    _CUSTOM_ROOTS[(api_version, kind)] = root
    _CUSTOM.update(types)


def custom_types(api_version: str, kind: str, schema: dict[str, Any]) -> dict[str, dict[str, FieldMeta]]:
    """The patch metadata of a CRD version's openAPIV3Schema, as ``set_custom_types`` takes it."""
    root = f"{api_version}/{kind}"
    out: dict[str, dict[str, FieldMeta]] = {}

    def walk(node: Any, name: str) -> None:
        fields: dict[str, FieldMeta] = {}
        for key, sub in (node.get("properties") or {}).items() if isinstance(node, dict) else ():
            if not isinstance(sub, dict):
                continue
            meta = _custom_field(sub, f"{name}.{key}")
            if meta is not None:
                fields[key] = meta
                if meta.type is not None:
                    walk(sub if meta.shape == "struct" else sub.get("items"), meta.type)
        out[name] = fields

    walk(schema, root)
    out[root]["metadata"] = struct("ObjectMeta")
    return out


def _custom_field(s: dict[str, Any], name: str) -> FieldMeta | None:
    if s.get("type") == "object":
        if s.get("x-kubernetes-map-type") == "atomic":
            return ATOMIC
        return struct(name) if s.get("properties") else None
    if s.get("type") != "array":
        return None
    items: dict[str, Any] = s["items"] if isinstance(s.get("items"), dict) else {}
    list_type = s.get("x-kubernetes-list-type")
    if list_type == "map" and s.get("x-kubernetes-list-map-keys"):
        keys = tuple(s["x-kubernetes-list-map-keys"])
        defaults = {k: (items.get("properties") or {}).get(k, {}).get("default") for k in keys}
        return FieldMeta("keyed", type=f"{name}[]", keys=keys,
                         key_defaults=tuple((k, v) for k, v in defaults.items() if v is not None))
    if list_type == "set":
        return scalar_set(smp_merge=False)
    return ATOMIC


def root_type(kind: str, api_version: str = "") -> str | None:
    """The schema type of a top-level object, or None for a kind not served."""
    custom = _CUSTOM_ROOTS.get((api_version, kind)) if _CUSTOM_ROOTS else None
    if custom is not None:
        return custom
    return kind if kind in KINDS else None


def field_meta(type_name: str | None, field: str) -> FieldMeta | None:
    """Metadata of ``field`` inside ``type_name``; None means untyped (defaults)."""
    if type_name is None:
        return None
    return (SCHEMA.get(type_name) or _CUSTOM.get(type_name, {})).get(field)


def is_atomic_type(type_name: str | None) -> bool:
    return type_name in ATOMIC_TYPES


def lookup(kind: str, path: Sequence[str]) -> FieldMeta | None:
    """Metadata of the field at ``path`` (JSON field names; list items are skipped).

    ``lookup("Deployment", ["spec", "template", "spec", "containers", "ports"])``
    gives the Container.ports entry.  None means the defaults apply.
    """
    type_name = root_type(kind)
    meta: FieldMeta | None = None
    for name in path:
        meta = field_meta(type_name, name)
        if meta is None:
            return None
        type_name = meta.type
    return meta
