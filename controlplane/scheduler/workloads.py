"""What a workload asks of the scheduler: its pod template and how many pods it runs at once.

    Pod                                   itself, once (N identical copies for a what-if)
    Deployment, ReplicaSet, StatefulSet,  spec.template × spec.replicas (default 1)
    ReplicationController
    Job                                   spec.template × parallelism (default 1), at most completions
    CronJob                               one run: spec.jobTemplate as a Job
    DaemonSet                             spec.template on every eligible node (daemon.py)

Read from the object's shape, so a kind works here as soon as the cluster serves it (and a
plan works from a manifest before it does). Pure.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..machinery.placement import PLANNABLE_KINDS as KINDS
from ..machinery.types import Obj


class NotPlannable(ValueError):
    """The object cannot be planned; `field` names the part at fault (as a 422 cause does)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


@dataclass(frozen=True)
class Workload:
    api_version: str
    kind: str
    namespace: str
    name: str
    template: Obj
    """The pod template: {"metadata": {...}, "spec": {...}}."""
    replicas: int
    """Pods wanted at once (a DaemonSet's are decided per node instead)."""
    daemon: bool = False

    @property
    def template_path(self) -> str:
        """Where the pod template is in the object ('' for a Pod: the object itself)."""
        return {"Pod": "", "Job": "spec.template", "CronJob": "spec.jobTemplate.spec.template"}.get(
            self.kind, "spec.template")

    @property
    def ref(self) -> str:
        group = self.api_version.rpartition("/")[0]
        return f"{self.kind.lower()}{'.' + group if group else ''}/{self.name}"


def _dict(value: Any) -> Obj:
    return value if isinstance(value, dict) else {}


def _count(spec: Obj, field: str, path: str, default: int) -> int:
    value = spec.get(field, default)
    if value is None:
        return default
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise NotPlannable(f"{path}.{field}", f"must be a non-negative integer, not {value!r}")
    return value


def _template(spec: Obj, path: str) -> Obj:
    template = spec.get("template")
    if not isinstance(template, dict) or not isinstance(template.get("spec"), dict):
        raise NotPlannable(f"{path}.template", "Required value: a pod template")
    return template


def workload(obj: Obj, namespace: str, replicas: int | None = None) -> Workload:
    """The workload `obj` describes; `replicas` overrides its count (a scale what-if)."""
    kind, api_version = obj.get("kind"), obj.get("apiVersion")
    md, spec = _dict(obj.get("metadata")), _dict(obj.get("spec"))
    if kind not in KINDS:
        raise NotPlannable("kind", f"{api_version or '?'} {kind or '?'} runs no pods: the workloads "
                                   f"a plan places are {', '.join(KINDS)}")
    name = md.get("name") or md.get("generateName") or ""
    ns = md.get("namespace") or namespace
    if replicas is not None and replicas < 0:
        raise NotPlannable("replicas", f"must be a non-negative integer, not {replicas}")
    if kind == "Pod":
        if not spec:
            raise NotPlannable("spec", "Required value")
        template = {"metadata": {k: md[k] for k in ("labels", "annotations") if k in md}, "spec": spec}
        return Workload(str(api_version), kind, ns, name, template, 1 if replicas is None else replicas)
    if kind == "DaemonSet":
        if replicas is not None:
            raise NotPlannable("replicas", "a DaemonSet runs one pod on each eligible node: replicas "
                                           "does not apply")
        return Workload(str(api_version), kind, ns, name, _template(spec, "spec"), 0, daemon=True)
    if kind == "CronJob":
        job = _dict(_dict(spec.get("jobTemplate")).get("spec"))
        path = "spec.jobTemplate.spec"
    elif kind == "Job":
        job, path = spec, "spec"
    else:
        count = _count(spec, "replicas", "spec", 1) if replicas is None else replicas
        return Workload(str(api_version), str(kind), ns, name, _template(spec, "spec"), count)
    template = _template(job, path)
    if replicas is None:
        replicas = _count(job, "parallelism", path, 1)
        completions = job.get("completions")
        if completions is not None:
            replicas = min(replicas, _count(job, "completions", path, 1))
    return Workload(str(api_version), str(kind), ns, name, template, replicas)


def replica_pod(w: Workload, owner_uid: str | None) -> Obj:
    """The pod a replica of `w` would be (before defaulting): its template's labels and spec, in
    its namespace, controlled by `owner_uid` (so replicas spread like the real ones)."""
    tmd = _dict(w.template.get("metadata"))
    md: Obj = {"name": w.name or "planned", "namespace": w.namespace, "uid": f"plan:{w.ref}",
               "labels": dict(_dict(tmd.get("labels"))), "annotations": dict(_dict(tmd.get("annotations")))}
    if owner_uid:
        md["ownerReferences"] = [{"apiVersion": w.api_version, "kind": w.kind, "name": w.name,
                                  "uid": owner_uid, "controller": True}]
    return {"apiVersion": "v1", "kind": "Pod", "metadata": md, "spec": dict(w.template["spec"])}
