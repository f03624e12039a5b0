"""The placement record: what the scheduler found about where a pod can go, in one JSON shape
shared by its writer (the scheduler), the plan API, and its readers (`pyctl describe`, the
dashboard, any web client).

It lives in the pod's `scheduler.pyctl.io/placement` annotation (docs/placement.md):

* while the pod is Pending, a verdict — nodes grouped by identical findings, every failing
  filter with numbers, and the smallest changes that would let the pod fit:

    {"version": 1, "result": "Unschedulable", "time": "...", "nodes": 2,
     "groups": [{"count": 2, "nodes": ["node-a", "node-b"], "failures": [
         {"filter": "NodeAffinity", "reason": "node(s) didn't match Pod's node affinity/selector",
          "detail": "nodeSelector disk=ssd: label missing", "fix": "drop nodeSelector disk=ssd"},
         {"filter": "NodeResourcesFit", "reason": "Insufficient memory",
          "detail": "memory: requests 100Ti > allocatable 8Gi", "fix": "lower the memory request to 7.9Gi (from 100Ti)"}]}],
     "omitted": {"groups": 0, "nodes": 0},
     "suggestions": [{"changes": ["drop nodeSelector disk=ssd", "lower the memory request to 7.9Gi (from 100Ti)"],
                      "nodes": 1}],
     "signature": "..."}

* once bound (written with the binding, in the same write), the scores that decided:

    {"version": 1, "result": "Scheduled", "time": "...", "node": "node-a", "nodes": 3, "feasible": 3,
     "scores": [{"node": "node-a", "total": 300, "plugins": {"NodeResourcesLeastAllocated": 96, ...}}, ...]}
"""

from __future__ import annotations

from typing import Any, TypedDict

from . import jsonio

ANNOTATION = "scheduler.pyctl.io/placement"
VERSION = 1
UNSCHEDULABLE = "Unschedulable"
SCHEDULED = "Scheduled"

PLAN_PATH = "/apis/pyctl.io/v1alpha1/namespaces/{namespace}/plans"
"""Where a Plan is created (answered at once, never stored: api/plan.py)."""
PLANNABLE_KINDS = ("Pod", "Deployment", "ReplicaSet", "StatefulSet", "ReplicationController", "Job", "CronJob",
                   "DaemonSet")
"""The kinds whose pods a plan places (scheduler/workloads.py reads each one's shape)."""


class Failure(TypedDict, total=False):
    filter: str
    reason: str
    detail: str
    fix: str  # absent when no change to the pod lifts it (a cordoned node, a full node)


class Group(TypedDict):
    count: int
    nodes: list[str]  # the first few names, in order
    failures: list[Failure]


class Suggestion(TypedDict):
    changes: list[str]
    nodes: int  # on how many nodes the pod would then fit


class Omitted(TypedDict):
    groups: int
    nodes: int


class NodeScore(TypedDict):
    node: str
    total: int
    plugins: dict[str, int]


def encode(record: dict[str, Any]) -> str:
    return jsonio.dumps(record).decode()


def read(obj: dict[str, Any]) -> dict[str, Any] | None:
    """The record in an object's annotation; None when absent, of another version, or not a
    record at all (an annotation anyone may write must not break a reader)."""
    raw = ((obj.get("metadata") or {}).get("annotations") or {}).get(ANNOTATION)
    if not isinstance(raw, str):
        return None
    try:
        record = jsonio.loads(raw)
    except ValueError:
        return None
    if not isinstance(record, dict) or record.get("version") != VERSION \
            or record.get("result") not in (UNSCHEDULABLE, SCHEDULED):
        return None
    return record
