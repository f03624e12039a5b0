"""Pods: defaults, rules, the table kubectl prints, and the strategy of a write.

Kubernetes' `pkg/registry/core/pod/strategy.go` in one place: a new pod's status starts
Pending with its QoS class; a pod on a node is deleted gracefully (the node's agent stops
its containers and confirms); the pod spec is immutable but for images, tolerations and
the active deadline. The body of the pods/binding subresource (Binding) is checked here too.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

from ...machinery.types import Obj
from ..fields import (as_dict, as_int, as_list, as_str, at, child, dict_or_none, dicts, fill, fill_positive,
                      normalized)
from ..info import STATUS, ResourceInfo, Subresource, subresource
from ..kind import Kind
from ..tables import AGE, NAME, Column, Printer, Row, human_duration, or_, time_of
from ..validation import Cause, forbidden, invalid, not_supported, required
from .podspec import default_pod_spec, pod_spec

DEFAULT_TOLERATION_SECONDS = 300
NOT_READY_TAINT = "node.kubernetes.io/not-ready"
UNREACHABLE_TAINT = "node.kubernetes.io/unreachable"


# --- defaults -------------------------------------------------------------------------------

def _tolerates(tolerations: list[Obj], taint_key: str) -> bool:
    return any(t.get("key") in (None, "", taint_key) and t.get("effect") in (None, "", "NoExecute")
               for t in tolerations)


def _default(obj: Obj) -> None:
    spec = child(obj, "spec")
    if spec is None:
        return
    default_pod_spec(spec)
    fill(spec, "enableServiceLinks", True)  # SetDefaults_Pod: Pods only, never templates
    # The ServiceAccount admission plugin names `default` (Pods only); the deprecated
    # `serviceAccount` field mirrors it, as the v1 conversion writes it out.
    fill(spec, "serviceAccountName", spec.get("serviceAccount") or "default")
    fill(spec, "serviceAccount", spec.get("serviceAccountName"))
    for c in dicts(spec.get("containers")) + dicts(spec.get("initContainers")):
        resources = dict_or_none(c.get("resources"))
        limits = dict_or_none(at(resources, "limits"))
        requests = child(resources, "requests") if resources is not None and limits else None
        if limits and requests is not None:  # requests default to limits, on Pods only
            for name, quantity in limits.items():
                requests.setdefault(name, quantity)
        if spec.get("hostNetwork") is True:  # host networking: a container port is a host port
            for port in dicts(c.get("ports")):
                if isinstance(port.get("containerPort"), int):
                    fill_positive(port, "hostPort", port["containerPort"])
    # DefaultTolerationSeconds admission: evict from a dead node after 5 minutes, not at once.
    if spec.get("tolerations") is None:
        spec["tolerations"] = []
    tolerations = spec["tolerations"]
    if isinstance(tolerations, list):
        for taint in (NOT_READY_TAINT, UNREACHABLE_TAINT):
            if not _tolerates(dicts(tolerations), taint):
                tolerations.append({"key": taint, "operator": "Exists", "effect": "NoExecute",
                                    "tolerationSeconds": DEFAULT_TOLERATION_SECONDS})


# --- rules ----------------------------------------------------------------------------------

def _rules(obj: Obj) -> list[Cause]:
    spec = as_dict(obj.get("spec"))
    out = pod_spec(spec, "spec")
    for i, c in enumerate(as_list(spec.get("containers"))):
        image = as_str(as_dict(c).get("image"))
        if image and image != image.strip():
            out.append(invalid(f"spec.containers[{i}].image", image, "must not have leading or trailing whitespace"))
    return out


UPDATABLE_POD_FIELDS = ",".join([
    "`spec.containers[*].image`", "`spec.initContainers[*].image`", "`spec.activeDeadlineSeconds`",
    "`spec.tolerations` (only additions to existing tolerations)",
    "`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)"])


def _diff(old: Any, new: Any, path: str, out: list[str]) -> None:
    if isinstance(old, dict) and isinstance(new, dict):
        for k in sorted(set(old) | set(new)):
            _diff(old.get(k), new.get(k), f"{path}.{k}", out)
    elif isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        for i, (o, n) in enumerate(zip(old, new)):
            _diff(o, n, f"{path}[{i}]", out)
    elif old != new:
        out.append(f"  {path}: {json.dumps(old)} -> {json.dumps(new)}")


def _update_rules(new: Obj, old: Obj) -> list[Cause]:
    ns, os_ = as_dict(new.get("spec")), as_dict(old.get("spec"))
    out: list[Cause] = []
    for key in ("containers", "initContainers"):
        nc, oc = as_list(ns.get(key)), as_list(os_.get(key))
        if len(nc) != len(oc):
            return [forbidden(f"spec.{key}", "pod updates may not add or remove containers")]
        out += [required(f"spec.{key}[{i}].image") for i, c in enumerate(nc) if not as_str(as_dict(c).get("image"))]
    n_deadline, o_deadline = as_int(ns.get("activeDeadlineSeconds")), as_int(os_.get("activeDeadlineSeconds"))
    if n_deadline is not None and o_deadline is not None and o_deadline < n_deadline:
        out.append(invalid("spec.activeDeadlineSeconds", n_deadline, "must be less than or equal to previous value"))
    elif n_deadline is None and o_deadline is not None:
        out.append(invalid("spec.activeDeadlineSeconds", None, "must not update from a positive integer to nil value"))
    # Existing tolerations must survive; only their tolerationSeconds may change.
    new_tolerations = [normalized(dict(as_dict(t), tolerationSeconds=None)) for t in as_list(ns.get("tolerations"))]
    if any(normalized(dict(as_dict(t), tolerationSeconds=None)) not in new_tolerations
           for t in as_list(os_.get("tolerations"))):
        out.append(forbidden("spec.tolerations",
                             "existing toleration can not be modified except its tolerationSeconds"))
    # What is left after undoing the updatable fields must be unchanged.
    munged = dict(ns)
    for key in ("containers", "initContainers"):
        if key in ns:
            munged[key] = [dict(as_dict(c), image=as_dict(o).get("image")) for c, o in zip(as_list(ns[key]), as_list(os_.get(key)))]
    for key in ("activeDeadlineSeconds", "tolerations", "schedulingGates"):
        munged[key] = os_.get(key)
    # Binding (unset -> a node) reaches us as an ordinary update; kube's binding path skips this check.
    if not as_str(os_.get("nodeName")):
        munged["nodeName"] = os_.get("nodeName")
    grace = as_int(os_.get("terminationGracePeriodSeconds"))
    if grace is not None and grace < 0 and munged.get("terminationGracePeriodSeconds") == 1:
        munged["terminationGracePeriodSeconds"] = grace
    if normalized(munged) != normalized(os_):
        changes: list[str] = []
        _diff(normalized(os_), normalized(munged), "spec", changes)
        out.append(forbidden("spec", f"pod updates may not change fields other than {UPDATABLE_POD_FIELDS}\n"
                             + "\n".join(changes[:10])))
    return out


# --- the table (printPod) -------------------------------------------------------------------

@dataclass(frozen=True)
class _PodSummary:
    ready: str
    status: str
    restarts: str


def _condition_true(status: Obj, kind: str) -> bool:
    return any(c.get("type") == kind and c.get("status") == "True" for c in status.get("conditions") or [])


def _exit_reason(terminated: Obj) -> str:
    signal = terminated.get("signal") or 0
    return f"Signal:{signal}" if signal else f"ExitCode:{terminated.get('exitCode') or 0}"


def _last_termination(cs: Obj) -> dt.datetime | None:
    return time_of(((cs.get("lastState") or {}).get("terminated") or {}).get("finishedAt"))


def _later(a: dt.datetime | None, b: dt.datetime | None) -> dt.datetime | None:
    return b if a is None or (b is not None and b > a) else a


def _summarize_pod(pod: Obj, now: dt.datetime) -> _PodSummary:
    spec, status = pod.get("spec") or {}, pod.get("status") or {}
    phase = status.get("phase") or ""
    reason = status.get("reason") or phase
    if any(c.get("type") == "PodScheduled" and c.get("reason") == "SchedulingGated"
           for c in status.get("conditions") or []):
        reason = "SchedulingGated"

    init_specs = spec.get("initContainers") or []
    sidecars = {c.get("name") for c in init_specs if c.get("restartPolicy") == "Always"}
    total = len(spec.get("containers") or []) + sum(c.get("restartPolicy") == "Always" for c in init_specs)
    ready = restarts = sidecar_restarts = 0
    last_restart = sidecar_last_restart = None

    # Init containers run in order: the first one not yet done explains the pod.
    initializing = False
    for i, cs in enumerate(status.get("initContainerStatuses") or []):
        restarts += cs.get("restartCount") or 0
        last_restart = _later(last_restart, _last_termination(cs))
        is_sidecar = cs.get("name") in sidecars
        if is_sidecar:
            sidecar_restarts += cs.get("restartCount") or 0
            sidecar_last_restart = _later(sidecar_last_restart, _last_termination(cs))
        state = cs.get("state") or {}
        terminated, waiting = state.get("terminated"), state.get("waiting")
        if terminated is not None and not terminated.get("exitCode"):
            continue
        if is_sidecar and cs.get("started"):
            ready += 1 if cs.get("ready") else 0
            continue
        if terminated is not None:
            reason = "Init:" + (terminated.get("reason") or _exit_reason(terminated))
        elif waiting is not None and waiting.get("reason") and waiting["reason"] != "PodInitializing":
            reason = "Init:" + waiting["reason"]
        else:
            reason = f"Init:{i}/{len(init_specs)}"
        initializing = True
        break

    if not initializing or _condition_true(status, "Initialized"):
        restarts, last_restart = sidecar_restarts, sidecar_last_restart
        has_running = False
        # Reversed, so the first container with a problem is the one that speaks last.
        for cs in reversed(status.get("containerStatuses") or []):
            restarts += cs.get("restartCount") or 0
            last_restart = _later(last_restart, _last_termination(cs))
            state = cs.get("state") or {}
            terminated, waiting = state.get("terminated"), state.get("waiting")
            if waiting is not None and waiting.get("reason"):
                reason = waiting["reason"]
            elif terminated is not None:
                reason = terminated.get("reason") or _exit_reason(terminated)
            elif cs.get("ready") and state.get("running") is not None:
                has_running = True
                ready += 1
        # One container completed but another still runs: the pod is not "Completed".
        if reason == "Completed" and has_running:
            reason = "Running" if _condition_true(status, "Ready") else "NotReady"

    if (pod.get("metadata") or {}).get("deletionTimestamp"):
        if status.get("reason") == "NodeLost":
            reason = "Unknown"
        elif phase not in ("Succeeded", "Failed"):
            reason = "Terminating"

    restarts_cell = str(restarts)
    if restarts and last_restart is not None:
        restarts_cell += f" ({human_duration((now - last_restart).total_seconds())} ago)"
    return _PodSummary(f"{ready}/{total}", reason, restarts_cell)


def _pod_ip(r: Row) -> str:
    ips = r.status.get("podIPs") or []
    return or_(ips[0].get("ip") if ips else r.status.get("podIP"), "<none>")


def _readiness_gates(r: Row) -> str:
    gates = r.spec.get("readinessGates") or []
    if not gates:
        return "<none>"
    conditions = {c.get("type"): c.get("status") for c in reversed(r.status.get("conditions") or [])}
    true = sum(conditions.get(g.get("conditionType")) == "True" for g in gates)
    return f"{true}/{len(gates)}"


def _pod_conditions(pod: Obj) -> list[dict[str, str]] | None:
    # Lets clients tell finished pods apart (metav1.RowCompleted).
    phase = (pod.get("status") or {}).get("phase")
    if phase == "Succeeded":
        return [{"type": "Completed", "status": "True", "reason": "Succeeded",
                 "message": "The pod has completed successfully."}]
    if phase == "Failed":
        return [{"type": "Completed", "status": "True", "reason": "Failed", "message": "The pod failed."}]
    return None


PRINTER = Printer((
    NAME,
    Column("Ready", lambda r: r.derived.ready,
           description="The aggregate readiness state of this pod for accepting traffic."),
    Column("Status", lambda r: r.derived.status, description="The aggregate status of the containers in this pod."),
    Column("Restarts", lambda r: r.derived.restarts,
           description="The number of times the containers in this pod have been restarted and when the "
                       "last container in this pod has restarted."),
    AGE,
    Column("IP", _pod_ip, priority=1, description="IP address allocated to the pod."),
    Column("Node", lambda r: or_(r.spec.get("nodeName"), "<none>"), priority=1,
           description="NodeName indicates in which node this pod is scheduled."),
    Column("Nominated Node", lambda r: or_(r.status.get("nominatedNodeName"), "<none>"), priority=1,
           description="nominatedNodeName is set when this pod preempts other pods on the node."),
    Column("Readiness Gates", _readiness_gates, priority=1,
           description="If specified, all readiness gates will be evaluated for pod readiness."),
), derive=_summarize_pod, conditions=_pod_conditions)


# --- Binding: the body of pods/binding --------------------------------------------------------

def _binding(obj: Obj) -> list[Cause]:
    target = as_dict(obj.get("target"))
    out = []
    if as_str(target.get("kind")) not in ("", "Node"):
        out.append(not_supported("target.kind", target["kind"], ["Node", "<empty>"]))
    if not as_str(target.get("name")):
        out.append(required("target.name"))
    return out


# --- the strategy ---------------------------------------------------------------------------

def qos_class(pod: Obj) -> str:
    """Guaranteed, Burstable or BestEffort, from the containers' requests and limits."""
    containers = (pod.get("spec") or {}).get("containers") or []
    requests_any = False
    guaranteed = bool(containers)
    for c in containers:
        res = c.get("resources") or {}
        req, lim = res.get("requests") or {}, res.get("limits") or {}
        requests_any = requests_any or bool(req) or bool(lim)
        if not (lim.get("cpu") and lim.get("memory")):
            guaranteed = False
        for r in ("cpu", "memory"):
            if req.get(r) is not None and lim.get(r) is not None and str(req[r]) != str(lim[r]):
                guaranteed = False
    if guaranteed:
        return "Guaranteed"
    return "Burstable" if requests_any else "BestEffort"


class PodKind(Kind):
    def prepare_for_create(self, obj: Obj) -> None:
        obj["status"] = {"phase": "Pending", "qosClass": qos_class(obj)}

    def grace_period(self, obj: Obj, options: dict[str, Any]) -> int:
        if options.get("gracePeriodSeconds") is not None:
            return max(0, int(options["gracePeriodSeconds"]))
        # A pod that never reached a node has nothing to stop: it goes at once, as in Kubernetes.
        if not obj.get("spec", {}).get("nodeName"):
            return 0
        if obj.get("status", {}).get("phase") in ("Succeeded", "Failed"):
            return 0
        return int(obj.get("spec", {}).get("terminationGracePeriodSeconds", 30))


POD = PodKind(
    ResourceInfo("", "v1", "pods", "Pod", "pod", True, ("po",), ("all",),
                 subresources=(STATUS, subresource("binding", "Binding", ("create",)),
                               subresource("log", "Pod", ("get",)),
                               subresource("exec", "PodExecOptions", ("create", "get")),
                               subresource("portforward", "PodPortForwardOptions", ("create", "get")),
                               Subresource("eviction", "Eviction", ("create",), "policy", "v1")),
                 has_status=True),
    printer=PRINTER, default=_default, rules=(_rules,), update_rules=(_update_rules,))

BINDING = Kind(ResourceInfo("", "v1", "bindings", "Binding", "binding", True), rules=(_binding,),
               has_metadata=False, served=False)
