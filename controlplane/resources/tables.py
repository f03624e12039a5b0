"""Server-side printing: the ``meta.k8s.io/v1`` Table that ``kubectl get`` renders.

kubectl has no client-side printer for built-in kinds: whatever columns and cells the
server puts in the Table are what the user sees (notes §4). This module owns, per
resource, the column definitions and how each cell is computed, transcribed from
kubernetes ``pkg/printers/internalversion/printers.go``; plus the ``HumanDuration``
formatting behind every AGE column.

Like kube-apiserver, every row carries all columns, including the priority-1 ones;
``kubectl get`` hides those unless ``-o wide``. Cells are computed from already
defaulted objects, as the API server stores them. Pure functions: ``now`` is passed in.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Callable, NamedTuple

from controlplane.machinery.meta import parse_time
from controlplane.machinery.selectors import SelectorError, label_selector_from_spec

__all__ = ["Column", "table", "human_duration", "age", "columns_for"]

Cell = str | int | bool
Obj = dict[str, Any]

_NAME_DOC = ("Name must be unique within a namespace. Is required when creating resources, although some "
             "resources may allow a client to request the generation of an appropriate name automatically. "
             "Name is primarily intended for creation idempotence and configuration definition. Cannot be "
             "updated. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names")
_AGE_DOC = ("CreationTimestamp is a timestamp representing the server time when this object was created. "
            "It is not guaranteed to be set in happens-before order across separate operations. Clients may "
            "not set this value. It is represented in RFC3339 form and is in UTC.\n\nPopulated by the system. "
            "Read-only. Null for lists. More info: https://git.k8s.io/community/contributors/devel/"
            "sig-architecture/api-conventions.md#metadata")


# ---------------------------------------------------------------------------------------
# Durations

def human_duration(seconds: float) -> str:
    """apimachinery ``duration.HumanDuration``: 2-3 significant figures, e.g. 90s, 2m30s, 5h, 2d3h, 3y."""
    s = int(seconds)  # Go truncates toward zero; up to 1s of clock skew still reads as "0s"
    if s < -1:
        return "<invalid>"
    if s < 0:
        return "0s"
    if s < 120:
        return f"{s}s"
    minutes, hours = s // 60, s // 3600
    days = hours // 24
    if minutes < 10:
        return f"{minutes}m{s % 60}s" if s % 60 else f"{minutes}m"
    if minutes < 180:
        return f"{minutes}m"
    if hours < 8:
        return f"{hours}h{minutes % 60}m" if minutes % 60 else f"{hours}h"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        return f"{days}d{hours % 24}h" if hours % 24 else f"{days}d"
    if hours < 24 * 365 * 2:
        return f"{days}d"
    if hours < 24 * 365 * 8:
        return f"{days // 365}y{days % 365}d" if days % 365 else f"{days // 365}y"
    return f"{days // 365}y"


def _time(value: Any) -> dt.datetime | None:
    at = parse_time(value) if isinstance(value, str) else None
    return _utc(at) if at is not None else None


def _utc(now: dt.datetime) -> dt.datetime:
    return now if now.tzinfo else now.replace(tzinfo=dt.timezone.utc)


def age(timestamp: str | None, now: dt.datetime) -> str:
    """Time since an RFC3339 timestamp, as kubectl shows it; ``<unknown>`` when unset or unparsable."""
    at = _time(timestamp)
    return "<unknown>" if at is None else human_duration((_utc(now) - at).total_seconds())


# ---------------------------------------------------------------------------------------
# Column machinery

class _Row(NamedTuple):
    obj: Obj
    now: dt.datetime
    derived: Any  # per-resource precomputation shared by several cells (pods), else None

    @property
    def meta(self) -> Obj:
        return self.obj.get("metadata") or {}

    @property
    def spec(self) -> Obj:
        return self.obj.get("spec") or {}

    @property
    def status(self) -> Obj:
        return self.obj.get("status") or {}


@dataclass(frozen=True)
class Column:
    """One TableColumnDefinition plus the function that computes its cell."""

    name: str
    cell: Callable[[_Row], Cell]
    type: str = "string"
    description: str = ""
    priority: int = 0  # 1 = shown only with -o wide
    format: str = ""

    def definition(self) -> dict[str, Any]:
        return {"name": self.name, "type": self.type, "format": self.format,
                "description": self.description, "priority": self.priority}


@dataclass(frozen=True)
class _Printer:
    columns: tuple[Column, ...]
    derive: Callable[[Obj, dt.datetime], Any] | None = None
    conditions: Callable[[Obj], list[dict[str, str]] | None] | None = None


NAME = Column("Name", lambda r: r.meta.get("name", ""), format="name", description=_NAME_DOC)
AGE = Column("Age", lambda r: age(r.meta.get("creationTimestamp"), r.now), description=_AGE_DOC)


def _or(value: Any, placeholder: str) -> str:
    return str(value) if value not in (None, "") else placeholder


def _format_labels(labels: dict[str, str] | None) -> str:
    """labels.FormatLabels: sorted k=v pairs, ``<none>`` when empty."""
    return ",".join(f"{k}={v}" for k, v in sorted((labels or {}).items())) or "<none>"


def _containers(r: _Row, part: str) -> str:
    template = ((r.spec.get("template") or {}).get("spec") or {})
    return ",".join(c.get(part, "") for c in template.get("containers") or [])


def _selector(spec: Any, *, on_error: str, if_empty: str) -> str:
    try:
        return str(label_selector_from_spec(spec)) or if_empty
    except SelectorError:
        return on_error


def _replicas(r: _Row) -> int:
    replicas = r.spec.get("replicas")
    return 1 if replicas is None else replicas  # defaulting sets 1 when omitted


_CONTAINERS = Column("Containers", lambda r: _containers(r, "name"), priority=1,
                     description="Names of each container in the template.")
_IMAGES = Column("Images", lambda r: _containers(r, "image"), priority=1,
                 description="Images referenced by each container in the template.")


# ---------------------------------------------------------------------------------------
# Pods (printPod)

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
    return _time(((cs.get("lastState") or {}).get("terminated") or {}).get("finishedAt"))


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


def _pod_ip(r: _Row) -> str:
    ips = r.status.get("podIPs") or []
    return _or(ips[0].get("ip") if ips else r.status.get("podIP"), "<none>")


def _readiness_gates(r: _Row) -> str:
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


# ---------------------------------------------------------------------------------------
# Services, endpoints, nodes, events

def _service_type(r: _Row) -> str:
    return r.spec.get("type") or "ClusterIP"


def _cluster_ip(r: _Row) -> str:
    ips = r.spec.get("clusterIPs") or []
    return _or(ips[0] if ips else r.spec.get("clusterIP"), "<none>")


def _external_ip(r: _Row) -> str:
    external = r.spec.get("externalIPs") or []
    kind = _service_type(r)
    if kind in ("ClusterIP", "NodePort"):
        return ",".join(external) or "<none>"
    if kind == "LoadBalancer":
        ingress = (r.status.get("loadBalancer") or {}).get("ingress") or []
        balancer = sorted({i.get("ip") or i.get("hostname") for i in ingress} - {None, ""})
        return ",".join(balancer + external) or "<pending>"
    if kind == "ExternalName":
        return r.spec.get("externalName", "")
    return "<unknown>"


def _ports(r: _Row) -> str:
    def one(p: Obj) -> str:
        node_port = f":{p['nodePort']}" if p.get("nodePort") else ""
        return f"{p.get('port')}{node_port}/{p.get('protocol') or 'TCP'}"
    return ",".join(one(p) for p in r.spec.get("ports") or []) or "<none>"


def _host_port(ip: str, port: Any) -> str:
    return f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"


def _endpoints(r: _Row, limit: int = 3) -> str:
    subsets = r.obj.get("subsets") or []
    if not subsets:
        return "<none>"
    shown: list[str] = []
    count = 0
    for subset in subsets:
        ips = [a.get("ip", "") for a in subset.get("addresses") or []]
        # A headless service may have no ports: list bare IPs then.
        for port in subset.get("ports") or [None]:
            count += len(ips)
            for ip in ips:
                if len(shown) < limit:
                    shown.append(ip if port is None else _host_port(ip, port.get("port")))
    more = f" + {count - limit} more..." if count > limit else ""
    return ",".join(shown) + more


def _limited(items: list[str], limit: int = 3) -> str:
    if len(items) > limit:
        return ",".join(items[:limit]) + f" + {len(items) - limit} more..."
    return ",".join(items) or "<unset>"


def _slice_ports(r: _Row) -> str:
    return _limited([str(p["port"]) if p.get("port") is not None else p.get("name") or "*"
                     for p in r.obj.get("ports") or []])


def _slice_endpoints(r: _Row) -> str:
    return _limited([a for e in r.obj.get("endpoints") or [] for a in e.get("addresses") or []])


def _node_status(r: _Row) -> str:
    ready = [c.get("status") for c in r.status.get("conditions") or [] if c.get("type") == "Ready"]
    states = ["Ready" if ready[-1] == "True" else "NotReady"] if ready else ["Unknown"]
    if r.spec.get("unschedulable"):
        states.append("SchedulingDisabled")
    return ",".join(states)


def _node_roles(r: _Row) -> str:
    roles = set()
    for key, value in (r.meta.get("labels") or {}).items():
        if key.startswith("node-role.kubernetes.io/") and key != "node-role.kubernetes.io/":
            roles.add(key.removeprefix("node-role.kubernetes.io/"))
        elif key == "kubernetes.io/role" and value:
            roles.add(value)
    return ",".join(sorted(roles)) or "<none>"


def _node_address(kind: str) -> Callable[[_Row], str]:
    def cell(r: _Row) -> str:
        return next((a.get("address", "") for a in r.status.get("addresses") or []
                     if a.get("type") == kind), "<none>")
    return cell


def _node_info(key: str, placeholder: str = "<unknown>") -> Callable[[_Row], str]:
    return lambda r: _or((r.status.get("nodeInfo") or {}).get(key), placeholder)


def _event_times(ev: Obj, now: dt.datetime) -> tuple[str, str, int]:
    """LAST SEEN, FIRST SEEN and COUNT for both old-style and events.k8s.io-style events."""
    first = age(ev.get("firstTimestamp") or ev.get("eventTime"), now)
    last = age(ev["lastTimestamp"], now) if ev.get("lastTimestamp") else first
    count = ev.get("count") or 1  # singleton events of the new API carry no count
    if series := ev.get("series"):
        last, count = age(series.get("lastObservedTime"), now), series.get("count") or 0
    return last, first, count


def _event_object(r: _Row) -> str:
    involved = r.obj.get("involvedObject") or {}
    kind = (involved.get("kind") or "").lower()
    return f"{kind}/{involved['name']}" if involved.get("name") else kind


def _event_source(r: _Row) -> str:
    source = r.obj.get("source") or {}
    component = source.get("component") or r.obj.get("reportingComponent") or ""
    host = source.get("host") or r.obj.get("reportingInstance") or ""
    return f"{component}, {host}" if host else component


def _count(*path: str) -> Callable[[_Row], int]:
    def cell(r: _Row) -> int:
        cur: Any = r.obj
        for key in path:
            cur = (cur or {}).get(key)
        return cur or 0
    return cell


def _created_at(r: _Row) -> str:
    at = _time(r.meta.get("creationTimestamp"))
    return at.strftime("%Y-%m-%dT%H:%M:%SZ") if at else ""


def _role_ref(ref: Any) -> str:
    ref = ref if isinstance(ref, dict) else {}
    return f"{ref.get('kind', '')}/{ref.get('name', '')}"


def _subjects(kind: str) -> Callable[[_Row], str]:
    def cell(r: _Row) -> str:
        subjects = [s for s in r.obj.get("subjects") or [] if s.get("kind") == kind]
        if kind == "ServiceAccount":  # namespace/name, as kubectl shows them
            return ", ".join(f"{s.get('namespace', '')}/{s.get('name', '')}" for s in subjects)
        return ", ".join(s.get("name", "") for s in subjects)
    return cell


_CREATED_AT = Column("Created At", _created_at, type="date", description=_AGE_DOC)
_BINDING_COLUMNS = (
    NAME,
    Column("Role", lambda r: _role_ref(r.obj.get("roleRef")),
           description="RoleRef can reference a Role in the current namespace or a ClusterRole in the "
                       "global namespace. If the RoleRef cannot be resolved, the Authorizer must return "
                       "an error."),
    AGE,
    Column("Users", _subjects("User"), priority=1, description="Subjects holds references to the objects "
                                                                "the role applies to."),
    Column("Groups", _subjects("Group"), priority=1, description="Subjects holds references to the objects "
                                                                  "the role applies to."),
    Column("ServiceAccounts", _subjects("ServiceAccount"), priority=1,
           description="Subjects holds references to the objects the role applies to."),
)


# ---------------------------------------------------------------------------------------
# The tables

_PRINTERS: dict[str, _Printer] = {
    "pods": _Printer((
        NAME,
        Column("Ready", lambda r: r.derived.ready,
               description="The aggregate readiness state of this pod for accepting traffic."),
        Column("Status", lambda r: r.derived.status, description="The aggregate status of the containers in this pod."),
        Column("Restarts", lambda r: r.derived.restarts,
               description="The number of times the containers in this pod have been restarted and when the "
                           "last container in this pod has restarted."),
        AGE,
        Column("IP", _pod_ip, priority=1, description="IP address allocated to the pod."),
        Column("Node", lambda r: _or(r.spec.get("nodeName"), "<none>"), priority=1,
               description="NodeName indicates in which node this pod is scheduled."),
        Column("Nominated Node", lambda r: _or(r.status.get("nominatedNodeName"), "<none>"), priority=1,
               description="nominatedNodeName is set when this pod preempts other pods on the node."),
        Column("Readiness Gates", _readiness_gates, priority=1,
               description="If specified, all readiness gates will be evaluated for pod readiness."),
    ), derive=_summarize_pod, conditions=_pod_conditions),
    "deployments": _Printer((
        NAME,
        Column("Ready", lambda r: f"{r.status.get('readyReplicas') or 0}/{_replicas(r)}",
               description="Number of the pod with ready state"),
        Column("Up-to-date", _count("status", "updatedReplicas"),
               description="Total number of non-terminated pods targeted by this deployment that have the "
                           "desired template spec."),
        Column("Available", _count("status", "availableReplicas"),
               description="Total number of available pods (ready for at least minReadySeconds) targeted by "
                           "this deployment."),
        AGE, _CONTAINERS, _IMAGES,
        Column("Selector", lambda r: _selector(r.spec.get("selector"), on_error="<invalid>", if_empty=""),
               priority=1, description="Label selector for pods."),
    )),
    "replicasets": _Printer((
        NAME,
        Column("Desired", _replicas, type="integer", description="Replicas is the number of desired replicas."),
        Column("Current", _count("status", "replicas"), type="integer",
               description="Replicas is the most recently observed number of replicas."),
        Column("Ready", _count("status", "readyReplicas"), type="integer",
               description="The number of ready replicas for this replica set."),
        AGE, _CONTAINERS, _IMAGES,
        Column("Selector", lambda r: _selector(r.spec.get("selector"), on_error="<error>", if_empty="<none>"),
               priority=1, description="Selector is a label query over pods that should match the replica count."),
    )),
    "services": _Printer((
        NAME,
        Column("Type", _service_type, description="type determines how the Service is exposed."),
        Column("Cluster-IP", _cluster_ip, description="clusterIP is the IP address of the service."),
        Column("External-IP", _external_ip,
               description="externalIPs is a list of IP addresses for which nodes in the cluster will also "
                           "accept traffic for this service."),
        Column("Port(s)", _ports, description="The list of ports that are exposed by this service."),
        AGE,
        Column("Selector", lambda r: _format_labels(r.spec.get("selector")), priority=1,
               description="Route service traffic to pods with label keys and values matching this selector."),
    )),
    "endpoints": _Printer((
        NAME,
        Column("Endpoints", _endpoints, description="The set of all endpoints is the union of all subsets."),
        AGE,
    )),
    "endpointslices": _Printer((
        NAME,
        Column("AddressType", lambda r: r.obj.get("addressType", ""),
               description="addressType specifies the type of address carried by this EndpointSlice."),
        Column("Ports", _slice_ports, description="ports specifies the list of network ports exposed."),
        Column("Endpoints", _slice_endpoints, description="endpoints is a list of unique endpoints in this slice."),
        AGE,
    )),
    "nodes": _Printer((
        NAME,
        Column("Status", _node_status, description="The status of the node"),
        Column("Roles", _node_roles, description="The roles of the node"),
        AGE,
        Column("Version", _node_info("kubeletVersion", ""), description="Kubelet Version reported by the node."),
        Column("Internal-IP", _node_address("InternalIP"), priority=1,
               description="List of addresses reachable to the node."),
        Column("External-IP", _node_address("ExternalIP"), priority=1,
               description="List of addresses reachable to the node."),
        Column("OS-Image", _node_info("osImage"), priority=1,
               description="OS Image reported by the node from /etc/os-release."),
        Column("Kernel-Version", _node_info("kernelVersion"), priority=1,
               description="Kernel Version reported by the node from 'uname -r'."),
        Column("Container-Runtime", _node_info("containerRuntimeVersion"), priority=1,
               description="ContainerRuntime Version reported by the node through runtime remote API."),
    )),
    "namespaces": _Printer((
        NAME,
        Column("Status", lambda r: r.status.get("phase", ""), description="The status of the namespace"),
        AGE,
    )),
    "events": _Printer((
        Column("Last Seen", lambda r: r.derived[0], description="The time at which the most recent occurrence "
                                                                "of this event was recorded."),
        Column("Type", lambda r: r.obj.get("type", ""), description="Type of this event (Normal, Warning)."),
        Column("Reason", lambda r: r.obj.get("reason", ""),
               description="This should be a short, machine understandable string that gives the reason for "
                           "the transition into the object's current status."),
        Column("Object", _event_object, description="The object that this event is about."),
        Column("Subobject", lambda r: (r.obj.get("involvedObject") or {}).get("fieldPath", ""), priority=1,
               description="If referring to a piece of an object instead of an entire object, this string "
                           "should contain a valid JSON/Go field access statement."),
        Column("Source", _event_source, priority=1, description="The component reporting this event."),
        Column("Message", lambda r: (r.obj.get("message") or "").strip(),
               description="A human-readable description of the status of this operation."),
        Column("First Seen", lambda r: r.derived[1], priority=1,
               description="The time at which the event was first recorded."),
        Column("Count", lambda r: r.derived[2], priority=1,
               description="The number of times this event has occurred."),
        Column("Name", NAME.cell, priority=1, format="name", description=_NAME_DOC),
    ), derive=_event_times),
    "secrets": _Printer((
        NAME,
        Column("Type", lambda r: r.obj.get("type", ""), description="Used to facilitate programmatic handling "
                                                                    "of secret data."),
        Column("Data", lambda r: len(r.obj.get("data") or {}),
               description="Data contains the secret data."),
        AGE,
    )),
    "serviceaccounts": _Printer((
        NAME,
        Column("Secrets", lambda r: len(r.obj.get("secrets") or []), type="integer",
               description="Secrets is a list of the secrets in the same namespace that pods running "
                           "using this ServiceAccount are allowed to use."),
        AGE,
    )),
    "configmaps": _Printer((
        NAME,
        Column("Data", lambda r: len(r.obj.get("data") or {}) + len(r.obj.get("binaryData") or {}),
               description="Data contains the configuration data."),
        AGE,
    )),
    "leases": _Printer((
        NAME,
        Column("Holder", lambda r: r.spec.get("holderIdentity") or "",
               description="holderIdentity contains the identity of the holder of a current lease."),
        AGE,
    )),
}
_PRINTERS["roles"] = _PRINTERS["clusterroles"] = _Printer((NAME, _CREATED_AT))
_PRINTERS["rolebindings"] = _PRINTERS["clusterrolebindings"] = _Printer(_BINDING_COLUMNS)
_GENERIC = _Printer((NAME, AGE))

_INCLUDE_OBJECT = ("None", "Metadata", "Object")


def columns_for(resource: str) -> tuple[Column, ...]:
    """The columns served for a plural resource name (Name and Age for unknown ones)."""
    return _PRINTERS.get(resource, _GENERIC).columns


def table(resource: str, objects: list[Obj], *, now: dt.datetime, include_object: str = "Metadata",
          resource_version: str = "", with_header: bool = True,
          api_version: str = "meta.k8s.io/v1") -> dict[str, Any]:
    """Render objects of one resource (plural name) as a Table.

    ``include_object`` is the ``?includeObject=`` parameter: ``Metadata`` (default, also
    for ``""``) puts a PartialObjectMetadata in each row, ``Object`` the object itself
    (not copied), ``None`` nothing. ``with_header=False`` leaves ``columnDefinitions``
    empty, for watch events after the first. ``api_version`` may be
    ``meta.k8s.io/v1beta1`` when the client asked for that Table version.
    """
    mode = include_object or "Metadata"
    if mode not in _INCLUDE_OBJECT:
        raise ValueError(f'includeObject: Unsupported value: "{include_object}": '
                         f'supported values: "None", "Metadata", "Object"')
    printer = _PRINTERS.get(resource, _GENERIC)
    now = _utc(now)
    rows = []
    for obj in objects:
        r = _Row(obj, now, printer.derive(obj, now) if printer.derive else None)
        row: dict[str, Any] = {"cells": [c.cell(r) for c in printer.columns]}
        if printer.conditions and (conditions := printer.conditions(obj)):
            row["conditions"] = conditions
        if mode == "Metadata":
            row["object"] = {"kind": "PartialObjectMetadata", "apiVersion": api_version,
                             "metadata": dict(obj.get("metadata") or {})}
        elif mode == "Object":
            row["object"] = obj
        rows.append(row)
    return {
        "kind": "Table",
        "apiVersion": api_version,
        "metadata": {"resourceVersion": resource_version} if resource_version else {},
        "columnDefinitions": [c.definition() for c in printer.columns] if with_header else [],
        "rows": rows,
    }
