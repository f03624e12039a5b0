"""Plan (pyctl.io/v1alpha1): "what would the scheduler do if I applied this?" — answered at
once by the API server (api/plan.py) and never stored, as a SubjectAccessReview is.

    apiVersion: pyctl.io/v1alpha1
    kind: Plan
    spec:
      workloads: [<Pod, Deployment, ReplicaSet, StatefulSet, Job, CronJob, DaemonSet, ...>]
      replicas: 10        # optional: as if each were scaled to this (not for DaemonSets)

Creating one (RBAC: `create` on `plans` in the namespace) returns it with `status`: where each
workload's pods would go, which would stay Pending and why (docs/placement.md).
"""

from __future__ import annotations

from ...machinery.types import Obj
from ..fields import as_dict
from ..info import ResourceInfo
from ..kind import Kind
from ..validation import Cause, invalid, required


def _rules(obj: Obj) -> list[Cause]:
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        return [required("spec")]
    out: list[Cause] = []
    workloads = spec.get("workloads")
    if not isinstance(workloads, list) or not workloads:
        out.append(required("spec.workloads", "at least one workload to plan"))
    else:
        out += [invalid(f"spec.workloads[{i}]", type(w).__name__, "must be an object (a Kubernetes manifest)")
                for i, w in enumerate(workloads) if not isinstance(w, dict)]
    replicas = as_dict(spec).get("replicas")
    if replicas is not None and (not isinstance(replicas, int) or isinstance(replicas, bool) or replicas < 0):
        out.append(invalid("spec.replicas", replicas, "must be greater than or equal to 0"))
    return out


PLAN = Kind(ResourceInfo("pyctl.io", "v1alpha1", "plans", "Plan", "plan", True, verbs=("create",)),
            rules=(_rules,), has_metadata=False)
