"""The NetworkPolicy table every agent enforces: policies with their selectors resolved.

NetworkPolicy, Namespace and (the pod index's) Pod informers for the whole gateway. The gateway
resolves every selector once per change, for all nodes: a policy's `podSelector` to the pods it
isolates, each peer (podSelector / namespaceSelector / both) to pod addresses with their named
ports, ipBlocks as they are. Agents only turn the result into packet filters. Like the Service
table it is always COMPLETE, built once per change and coalesced per session, so a lost
message costs nothing. Without any NetworkPolicy the table is empty and pod churn costs nothing:
only the pod facts a policy can see (address, labels, named ports, node, running or not) count
as changes, and only while there are policies.
"""

from __future__ import annotations

import logging
from typing import Any, Callable

from pyctl_proto import node_pb2 as pb

from ..client import ApiClient
from ..client.kinds import resource
from ..client.shared import SharedInformer
from ..machinery.selectors import LabelSelector, SelectorError, label_selector_from_spec
from ..machinery.types import Obj

log = logging.getLogger(__name__)

POLICIES = resource("networking.k8s.io", "v1", "networkpolicies")
NAMESPACES = resource("", "v1", "namespaces")
NAME_LABEL = "kubernetes.io/metadata.name"
"""Every namespace carries it (kube's API server sets it): namespaceSelectors may use it."""

PodFacts = tuple[str, str, str, tuple[tuple[str, str], ...], tuple[tuple[str, str, int], ...]]
"""(namespace, ip, node, labels, named ports) of a pod a policy can see."""


def pod_facts(pod: Obj) -> PodFacts | None:
    """What policies see of a pod; None for one they cannot (no address yet, host network,
    finished)."""
    md, spec, status = pod.get("metadata") or {}, pod.get("spec") or {}, pod.get("status") or {}
    ip = status.get("podIP") or ""
    if not ip or spec.get("hostNetwork") or status.get("phase") in ("Succeeded", "Failed"):
        return None
    ports = tuple(sorted((str(p["name"]), str(p.get("protocol") or "TCP"), int(p.get("containerPort") or 0))
                         for c in spec.get("containers") or [] for p in c.get("ports") or [] if p.get("name")))
    return (md.get("namespace") or "default", ip, spec.get("nodeName") or "",
            tuple(sorted((md.get("labels") or {}).items())), ports)


def _selector(spec: Any) -> LabelSelector | None:
    """A selector; None for a malformed one (matches nothing; the API validated it anyway)."""
    try:
        return label_selector_from_spec(spec if isinstance(spec, dict) else {})
    except SelectorError:
        return None


def _named(ports: tuple[tuple[str, str, int], ...]) -> list[pb.NamedPort]:
    return [pb.NamedPort(name=n, protocol=p, port=port) for n, p, port in ports]


class _View:
    """Pods and namespaces as one policy table build sees them."""

    def __init__(self, pods: list[PodFacts], namespaces: dict[str, dict[str, str]]) -> None:
        self.pods = pods
        self.namespaces = namespaces

    def ns_labels(self, ns: str) -> dict[str, str]:
        return {**self.namespaces.get(ns, {}), NAME_LABEL: ns}

    def select(self, namespace: str | None, pod_sel: LabelSelector | None,
               ns_sel: LabelSelector | None) -> list[PodFacts]:
        """Pods in `namespace` (or in namespaces `ns_sel` matches) that `pod_sel` matches."""
        out = []
        for facts in self.pods:
            ns, labels = facts[0], dict(facts[3])
            if namespace is not None and ns != namespace:
                continue
            if ns_sel is not None and not ns_sel.matches(self.ns_labels(ns)):
                continue
            if pod_sel is not None and not pod_sel.matches(labels):
                continue
            out.append(facts)
        return out


def _peers(view: _View, namespace: str, peers: list[Any]) -> list[pb.PolicyPeer]:
    out: list[pb.PolicyPeer] = []
    for peer in peers:
        if not isinstance(peer, dict):
            continue
        block = peer.get("ipBlock")
        if isinstance(block, dict):
            out.append(pb.PolicyPeer(cidr=str(block.get("cidr", "")), except_cidrs=[str(e) for e in block.get("except") or []]))
            continue
        has_ns = peer.get("namespaceSelector") is not None
        pod_sel = _selector(peer.get("podSelector")) if peer.get("podSelector") is not None else None
        ns_sel = _selector(peer.get("namespaceSelector")) if has_ns else None
        if (peer.get("podSelector") is not None and pod_sel is None) or (has_ns and ns_sel is None):
            continue  # malformed: matches nothing
        for facts in view.select(None if has_ns else namespace, pod_sel, ns_sel):
            out.append(pb.PolicyPeer(cidr=f"{facts[1]}/32", pod=True, ports=_named(facts[4])))
    return out


def _ports(ports: list[Any]) -> list[pb.PolicyPort]:
    out = []
    for p in ports:
        if not isinstance(p, dict):
            continue
        proto, value = str(p.get("protocol") or "TCP"), p.get("port")
        if isinstance(value, str):
            out.append(pb.PolicyPort(protocol=proto, name=value))
        else:
            out.append(pb.PolicyPort(protocol=proto, port=int(value or 0), end_port=int(p.get("endPort") or 0)))
    return out


def _rules(view: _View, namespace: str, rules: Any, key: str) -> list[pb.PolicyRule]:
    out = []
    for rule in rules if isinstance(rules, list) else []:
        if not isinstance(rule, dict):
            continue
        ports = _ports(rule.get("ports") or [])
        peers = rule.get(key)
        if not peers:  # every peer; pods listed too when a port is named (resolved on the pod reached)
            named = any(p.name for p in ports)
            everyone = [pb.PolicyPeer(cidr=f"{f[1]}/32", pod=True, ports=_named(f[4]))
                        for f in view.pods] if named else []
            out.append(pb.PolicyRule(any_peer=True, peers=everyone, ports=ports))
        else:
            out.append(pb.PolicyRule(peers=_peers(view, namespace, peers), ports=ports))
    return out


def policy_entry(policy: Obj, view: _View) -> pb.NetworkPolicyEntry:
    md, spec = policy.get("metadata") or {}, policy.get("spec") or {}
    ns = md.get("namespace") or "default"
    types = spec.get("policyTypes") or ["Ingress"] + (["Egress"] if spec.get("egress") else [])
    selected = _selector(spec.get("podSelector"))
    pods = view.select(ns, selected, None) if selected is not None else []
    return pb.NetworkPolicyEntry(
        namespace=ns, name=md.get("name", ""), ingress="Ingress" in types, egress="Egress" in types,
        pods=[pb.PolicyPod(ip=f[1], node=f[2], ports=_named(f[4])) for f in pods],
        ingress_rules=_rules(view, ns, spec.get("ingress"), "from") if "Ingress" in types else [],
        egress_rules=_rules(view, ns, spec.get("egress"), "to") if "Egress" in types else [])


def policy_table(policies: list[Obj], pods: list[PodFacts], namespaces: dict[str, dict[str, str]]) -> pb.PolicyTable:
    view = _View(sorted(pods), namespaces)
    key = lambda p: ((p.get("metadata") or {}).get("namespace", ""), (p.get("metadata") or {}).get("name", ""))  # noqa: E731
    return pb.PolicyTable(policies=[policy_entry(p, view) for p in sorted(policies, key=key)])


class PolicyDirectory:
    """NetworkPolicies, the pod facts and namespace labels they see, and the sessions to tell."""

    def __init__(self, client: ApiClient, pods: SharedInformer) -> None:
        self.policies = SharedInformer(client, POLICIES)
        self.namespaces = SharedInformer(client, NAMESPACES)
        self.pods = pods
        self._facts: dict[str, PodFacts] = {}
        self._table: pb.PolicyTable | None = None  # None: rebuild on the next read
        self._listeners: dict[str, Callable[[], None]] = {}
        for informer in (self.policies, self.namespaces):
            informer.add_handlers(on_add=self._changed, on_update=lambda old, new: self._changed(new),
                                  on_delete=self._changed)
        pods.add_handlers(on_add=self._pod, on_update=lambda old, new: self._pod(new), on_delete=self._pod_gone)

    async def start(self) -> None:
        self.policies.start()
        self.namespaces.start()

    async def stop(self) -> None:
        await self.policies.stop()
        await self.namespaces.stop()

    async def wait_synced(self) -> None:
        await self.policies.wait_synced()
        await self.namespaces.wait_synced()

    def subscribe(self, node: str, changed: Callable[[], None]) -> None:
        self._listeners[node] = changed

    def unsubscribe(self, node: str, changed: Callable[[], None]) -> None:
        if self._listeners.get(node) == changed:  # bound methods: equal, not identical
            del self._listeners[node]

    def table(self) -> pb.PolicyTable:
        if self._table is None:  # built once per change, not once per session
            namespaces = {(n.get("metadata") or {}).get("name", ""): dict((n.get("metadata") or {}).get("labels") or {})
                          for n in self.namespaces.list()}
            self._table = policy_table(self.policies.list(), list(self._facts.values()), namespaces)
        return self._table

    def _key(self, pod: Obj) -> str:
        md = pod.get("metadata") or {}
        return f"{md.get('namespace', '')}/{md.get('name', '')}"

    def _pod(self, pod: Obj) -> None:
        key, facts = self._key(pod), pod_facts(pod)
        if self._facts.get(key) == facts:
            return  # a status-only change policies cannot see
        if facts is None:
            self._facts.pop(key, None)
        else:
            self._facts[key] = facts
        if self.policies.list():
            self._changed(pod)

    def _pod_gone(self, pod: Obj) -> None:
        if self._facts.pop(self._key(pod), None) is not None and self.policies.list():
            self._changed(pod)

    def _changed(self, _obj: Obj) -> None:
        self._table = None
        for changed in list(self._listeners.values()):
            changed()
