"""The ReplicationController describer: kubectl's describeReplicationController, which reads
as the ReplicaSet's (its plain label map prints as the same sorted `k=v` list)."""

from __future__ import annotations

from typing import Any

from . import Context, describer
from .workloads import replicaset


@describer("", "ReplicationController")
def replication_controller(ctx: Context, obj: dict[str, Any]) -> str:
    spec = obj.get("spec") or {}
    return replicaset(ctx, {**obj, "spec": {**spec, "selector": {"matchLabels": dict(spec.get("selector") or {})}}})
