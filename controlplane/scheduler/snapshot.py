"""The scheduler's view of the cluster: parsed pods (PodInfo), nodes with what is already
placed on them (NodeInfo), and the Snapshot that holds both.

Everything a filter or score needs is computed here once — when a pod or node changes —
so that checking one pod against one node is a few integer comparisons, not a walk over
the node's pods. Pure data, no I/O: the scheduler feeds it from informers, tests build it
by hand.
"""

from __future__ import annotations

import dataclasses
import math
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Iterable

from ..machinery.selectors import LabelSelector, SelectorError, label_selector_from_spec
from ..resources.validation import parse_quantity
from ..machinery.types import Obj

if TYPE_CHECKING:
    from .volumeview import VolumeView


# kube-scheduler scores a container that requests nothing as if it asked for this much,
# so that best-effort pods still spread instead of piling onto one "empty" node.
DEFAULT_MILLI_CPU = 100
DEFAULT_MEMORY = 200 * 1024 * 1024
WILDCARD_IP = "0.0.0.0"


def cpu_millis(value: Any) -> int:
    """A CPU quantity in millicores, rounded up as resource.Quantity.MilliValue does ('100m' -> 100)."""
    q = parse_quantity(value)
    return 0 if q is None else int(math.ceil(q * 1000))


def quantity_value(value: Any) -> int:
    """A quantity as an integer, rounded up ('128Mi' -> 134217728, '1e3' -> 1000)."""
    q = parse_quantity(value)
    return 0 if q is None else int(math.ceil(q))


def _amount(resource: str, value: Any) -> int:
    return cpu_millis(value) if resource == "cpu" else quantity_value(value)


# ---- pods --------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class AffinityTerm:
    """One required pod (anti-)affinity term, selector already parsed."""

    selector: LabelSelector
    namespaces: frozenset[str] | None  # None: every namespace (namespaceSelector: {})
    topology_key: str

    def matches(self, pod: "PodInfo") -> bool:
        return ((self.namespaces is None or pod.namespace in self.namespaces)
                and self.selector.matches(pod.labels))


@dataclass(slots=True)
class PodInfo:
    """A pod reduced to what scheduling looks at. Build it with `PodInfo.from_pod`."""

    key: str  # namespace/name
    uid: str
    namespace: str
    name: str
    labels: dict[str, str]
    node_name: str
    requests: dict[str, int]  # effective requests: cpu in millicores, others in units
    nonzero_cpu: int  # requests as scoring sees them (defaults for best-effort containers)
    nonzero_memory: int
    host_ports: tuple[tuple[str, str, int], ...]  # (hostIP, protocol, hostPort)
    tolerations: tuple[Obj, ...]
    node_selector: dict[str, str]
    node_affinity: tuple[Obj, ...] | None  # required nodeSelectorTerms; None: no constraint
    anti_affinity: tuple[AffinityTerm, ...]
    workload: str | None  # pods sharing it are replicas of one workload (spread across nodes)
    priority: int
    obj: Obj = field(repr=False)

    @property
    def cpu(self) -> int:
        return self.requests.get("cpu", 0)

    def template_key(self) -> tuple[object, ...]:
        """Everything a filter reads of this pod, but not its name: the replicas of one
        template share it, and so share one explanation of why they fit nowhere."""
        spec = self.obj.get("spec") or {}
        return (self.namespace, tuple(sorted(self.labels.items())), tuple(sorted(self.requests.items())),
                self.host_ports, repr(self.tolerations), tuple(sorted(self.node_selector.items())),
                repr(self.node_affinity), repr(spec.get("affinity")), self.node_name)

    @property
    def memory(self) -> int:
        return self.requests.get("memory", 0)

    @classmethod
    def from_pod(cls, pod: Obj, *, strict: bool = True) -> "PodInfo":
        """Raises SelectorError for a malformed anti-affinity selector unless not `strict`
        (for pods already placed: count their resources, drop the rule)."""
        md = pod.get("metadata") or {}
        spec = pod.get("spec") or {}
        ns = md.get("namespace") or "default"
        labels = dict(md.get("labels") or {})
        requests, nz_cpu, nz_mem = _pod_requests(spec)
        ports = tuple(
            (p.get("hostIP") or WILDCARD_IP, p.get("protocol") or "TCP", int(p["hostPort"]))
            for c in spec.get("containers") or [] for p in c.get("ports") or []
            if p.get("hostPort"))
        affinity = spec.get("affinity") or {}
        required = ((affinity.get("nodeAffinity") or {})
                    .get("requiredDuringSchedulingIgnoredDuringExecution"))
        terms = None if required is None else tuple(required.get("nodeSelectorTerms") or [])
        anti_terms = (affinity.get("podAntiAffinity") or {}).get("requiredDuringSchedulingIgnoredDuringExecution") or []
        try:
            anti = tuple(_affinity_term(t, ns) for t in anti_terms)
        except SelectorError:
            if strict:
                raise
            anti = ()
        return cls(key=f"{ns}/{md.get('name', '')}", uid=md.get("uid", ""), namespace=ns,
                   name=md.get("name", ""), labels=labels, node_name=spec.get("nodeName") or "",
                   requests=requests, nonzero_cpu=nz_cpu, nonzero_memory=nz_mem, host_ports=ports,
                   tolerations=tuple(spec.get("tolerations") or ()),
                   node_selector=dict(spec.get("nodeSelector") or {}), node_affinity=terms,
                   anti_affinity=anti, workload=_workload(ns, md), priority=int(spec.get("priority") or 0),
                   obj=pod)


def _container_requests(c: Obj) -> dict[str, int]:
    res = c.get("resources") or {}
    merged = {**(res.get("limits") or {}), **(res.get("requests") or {})}  # requests default to limits
    return {name: _amount(name, v) for name, v in merged.items()}


def _pod_requests(spec: Obj) -> tuple[dict[str, int], int, int]:
    """Effective requests: max(sum of containers, largest init container) + overhead."""
    total: Counter[str] = Counter()
    nz_cpu = nz_mem = 0
    for c in spec.get("containers") or []:
        req = _container_requests(c)
        total.update(req)
        nz_cpu += req["cpu"] if "cpu" in req else DEFAULT_MILLI_CPU  # an explicit 0 stays 0
        nz_mem += req["memory"] if "memory" in req else DEFAULT_MEMORY
    for c in spec.get("initContainers") or []:
        for name, v in _container_requests(c).items():
            total[name] = max(total[name], v)
    for name, v in (spec.get("overhead") or {}).items():
        total[name] += _amount(name, v)
    return {k: v for k, v in total.items() if v}, nz_cpu, nz_mem


def _workload(namespace: str, md: Obj) -> str | None:
    for ref in md.get("ownerReferences") or []:
        if ref.get("controller"):
            return f"uid:{ref.get('uid') or ref.get('name')}"
    labels = md.get("labels") or {}
    if labels:  # bare pods with the same labels count as one workload
        return f"labels:{namespace}:" + ",".join(f"{k}={v}" for k, v in sorted(labels.items()))
    return None


def _affinity_term(term: Obj, namespace: str) -> AffinityTerm:
    spec = term.get("labelSelector")
    # A term without a labelSelector selects no pods (as upstream).
    selector = LabelSelector.nothing() if spec is None else label_selector_from_spec(spec)
    names = term.get("namespaces") or []
    if term.get("namespaceSelector") == {}:
        namespaces = None  # an empty namespaceSelector selects every namespace
    else:
        namespaces = frozenset(names) if names else frozenset((namespace,))
    return AffinityTerm(selector, namespaces, term.get("topologyKey") or "")


TERMINAL = ("Succeeded", "Failed")


def placed(pod: Obj) -> bool:
    """Whether a pod holds resources on a node: bound, and not finished."""
    return bool((pod.get("spec") or {}).get("nodeName")) and (pod.get("status") or {}).get("phase") not in TERMINAL


# ---- nodes -------------------------------------------------------------------------------

def _ready(node: Obj) -> str:
    for c in (node.get("status") or {}).get("conditions") or []:
        if c.get("type") == "Ready":
            return c.get("status") or "Unknown"
    return "Unknown"


@dataclass(slots=True)
class NodeInfo:
    """A node and the sum of what its pods (bound or assumed) request."""

    name: str
    node: Obj | None = None  # None: pods refer to a node we have not seen (or that was deleted)
    labels: dict[str, str] = field(default_factory=dict)
    taints: tuple[Obj, ...] = ()
    unschedulable: bool = False
    ready: str = "Unknown"  # the Ready condition's status
    allocatable: dict[str, int] = field(default_factory=dict)
    pods: dict[str, PodInfo] = field(default_factory=dict)
    requested: Counter[str] = field(default_factory=Counter)
    nonzero_cpu: int = 0
    nonzero_memory: int = 0
    used_ports: Counter[tuple[str, str, int]] = field(default_factory=Counter)
    used_port_any_ip: Counter[tuple[str, int]] = field(default_factory=Counter)
    workloads: Counter[str] = field(default_factory=Counter)

    def set_node(self, node: Obj) -> bool:
        """Take a new version of the Node; True when something scheduling looks at changed."""
        status = node.get("status") or {}
        alloc = status.get("allocatable") or status.get("capacity") or {}
        spec = node.get("spec") or {}
        before = self.fingerprint()
        self.node = node
        self.labels = dict((node.get("metadata") or {}).get("labels") or {})
        self.taints = tuple(spec.get("taints") or ())
        self.unschedulable = bool(spec.get("unschedulable"))
        self.ready = _ready(node)
        self.allocatable = {k: _amount(k, v) for k, v in alloc.items()}
        return before != self.fingerprint()

    def fingerprint(self) -> tuple[object, ...]:
        return (self.node is not None, sorted(self.labels.items()), repr(self.taints),
                self.unschedulable, self.ready, sorted(self.allocatable.items()))

    def add_pod(self, p: PodInfo) -> None:
        self.pods[p.key] = p
        self.requested.update(p.requests)
        self.nonzero_cpu += p.nonzero_cpu
        self.nonzero_memory += p.nonzero_memory
        for ip, proto, port in p.host_ports:
            self.used_ports[(ip, proto, port)] += 1
            self.used_port_any_ip[(proto, port)] += 1
        if p.workload:
            self.workloads[p.workload] += 1

    def remove_pod(self, key: str) -> PodInfo | None:
        p = self.pods.pop(key, None)
        if p is None:
            return None
        self.requested.subtract(p.requests)
        self.nonzero_cpu -= p.nonzero_cpu
        self.nonzero_memory -= p.nonzero_memory
        for ip, proto, port in p.host_ports:
            self.used_ports[(ip, proto, port)] -= 1
            self.used_port_any_ip[(proto, port)] -= 1
        if p.workload:
            self.workloads[p.workload] -= 1
        return p


class Snapshot:
    """All nodes and the pods placed on them, including pods assumed but not yet bound.

    Mutated only between scheduling decisions (one asyncio thread), so a decision sees a
    consistent state and the next pod in a batch sees the previous one's placement.
    """

    def __init__(self) -> None:
        self.generation = 0  # bumped by every change a scheduling decision could see
        self.nodes: dict[str, NodeInfo] = {}
        self.pod_node: dict[str, str] = {}  # pod key -> node name
        self.assumed: set[str] = set()  # pod keys placed by us, binding not yet observed
        # Existing pods with required anti-affinity: few, and every new pod must respect them.
        self.with_anti_affinity: dict[str, PodInfo] = {}
        self._ready_list: list[NodeInfo] | None = None
        self.volumes: VolumeView | None = None  # claims, volumes, classes (None: not checked)

    @classmethod
    def build(cls, nodes: Iterable[Obj], pods: Iterable[Obj] = ()) -> "Snapshot":
        snap = cls()
        for n in nodes:
            snap.set_node(n)
        for p in pods:
            if placed(p):
                snap.add_pod(PodInfo.from_pod(p, strict=False))
        return snap

    def node_list(self) -> list[NodeInfo]:
        """The nodes that exist (as Node objects), in a stable order."""
        if self._ready_list is None:
            self._ready_list = [n for _, n in sorted(self.nodes.items()) if n.node is not None]
        return self._ready_list

    def set_node(self, node: Obj) -> bool:
        name = node["metadata"]["name"]
        info = self.nodes.get(name)
        if info is None:
            info = self.nodes[name] = NodeInfo(name)
            self._ready_list = None
        elif info.node is None:
            self._ready_list = None
        changed = info.set_node(node)
        if changed:
            self.generation += 1
        return changed

    def remove_node(self, name: str) -> None:
        info = self.nodes.get(name)
        if info is None:
            return
        self.generation += 1
        if info.pods:
            info.node = None  # keep the accounting until its pods are gone
        else:
            del self.nodes[name]
        self._ready_list = None

    def add_pod(self, p: PodInfo) -> None:
        """Place (or move) a pod on p.node_name; replaces an assumed placement."""
        self.remove_pod(p.key)
        self.generation += 1
        info = self.nodes.get(p.node_name)
        if info is None:
            info = self.nodes[p.node_name] = NodeInfo(p.node_name)
        info.add_pod(p)
        self.pod_node[p.key] = p.node_name
        if p.anti_affinity:
            self.with_anti_affinity[p.key] = p

    def remove_pod(self, key: str) -> PodInfo | None:
        self.assumed.discard(key)
        self.with_anti_affinity.pop(key, None)
        node = self.pod_node.pop(key, None)
        if node is None:
            return None
        self.generation += 1
        info = self.nodes.get(node)
        p = info.remove_pod(key) if info else None
        if info is not None and info.node is None and not info.pods:
            del self.nodes[node]
        return p

    def assume(self, p: PodInfo, node: str) -> PodInfo:
        """Account for p on node before the binding is confirmed; `forget` undoes it."""
        placed = dataclasses.replace(p, node_name=node)
        self.add_pod(placed)
        self.assumed.add(p.key)
        return placed

    def forget(self, key: str) -> None:
        if key in self.assumed:
            self.remove_pod(key)

    def placed(self, key: str) -> PodInfo | None:
        node = self.pod_node.get(key)
        return self.nodes[node].pods.get(key) if node is not None else None
