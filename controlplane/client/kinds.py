"""Resource descriptors by name, for components that talk about a fixed set of kinds."""

from __future__ import annotations

from ..resources.registry import ResourceInfo, lookup


def resource(group: str, version: str, plural: str) -> ResourceInfo:
    """The registry's descriptor; a LookupError (at import time) for a kind not served."""
    info = lookup(group, version, plural)
    if info is None:
        raise LookupError(f"the API serves no {plural} in {group or 'core'}/{version}")
    return info


PODS = resource("", "v1", "pods")
NODES = resource("", "v1", "nodes")
EVENTS = resource("", "v1", "events")
LEASES = resource("coordination.k8s.io", "v1", "leases")
REPLICASETS = resource("apps", "v1", "replicasets")
PERSISTENT_VOLUMES = resource("", "v1", "persistentvolumes")
PERSISTENT_VOLUME_CLAIMS = resource("", "v1", "persistentvolumeclaims")
STORAGE_CLASSES = resource("storage.k8s.io", "v1", "storageclasses")
HPAS = resource("autoscaling", "v2", "horizontalpodautoscalers")
