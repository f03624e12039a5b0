"""Node lifecycle controller: nodes whose agents stop renewing their lease go NotReady,
get the `node.kubernetes.io/unreachable:NoExecute` taint and have their pods marked not
Ready, and after the eviction timeout have their pods marked for graceful deletion
(Terminating), so that their owners replace them elsewhere. A node whose lease is
renewed again gets Ready=True back and loses the taint.

As Kubernetes' taint eviction does, it never force-deletes: the containers of a cut-off
node may still run, and the pod objects stay (Terminating) until that node's agent comes
back, stops them and confirms, or the Node is deleted (then pod_gc.py removes them).

Level-triggered: every `monitor_period` it recomputes each node's state from the Node
and Lease informers and writes only the difference. Lease freshness is judged by when
*this controller* saw the lease change (as Kubernetes does), not by comparing renewTime
with our clock, so clock skew cannot evict a node; after a restart every node gets a
fresh grace period, which is the safe direction.

Eviction honours tolerations of the unreachable taint: a pod that tolerates it with no
tolerationSeconds stays; one with tolerationSeconds is evicted after the shorter of that
and the eviction timeout (the API server defaults 300 s tolerations onto every pod, so
the timeout is what bounds ordinary pods).
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from dataclasses import dataclass

from ..client import ApiClient, ApiError, Conflict, NotFound
from ..client.shared import SharedInformer
from ..client.kinds import LEASES, NODES, PODS
from ..machinery.meta import now_rfc3339, parse_time
from ..machinery.types import Obj
from .lifecycle import PeriodicController

log = logging.getLogger(__name__)

LEASE_NAMESPACE = "kube-node-lease"
UNREACHABLE = "node.kubernetes.io/unreachable"
UNKNOWN_REASON = "NodeStatusUnknown"



@dataclass(frozen=True)
class NodeLifecycleConfig:
    grace_period: float = 40.0
    """Seconds without a lease renewal before a node is NotReady (Ready=Unknown)."""
    eviction_timeout: float = 60.0
    """Seconds a node stays unreachable before its pods are marked for deletion."""
    monitor_period: float = 5.0
    """Seconds between passes over all nodes."""


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def ready_condition(node: Obj) -> Obj | None:
    return next((c for c in (node.get("status") or {}).get("conditions") or [] if c.get("type") == "Ready"), None)


def unreachable_taint(node: Obj) -> Obj | None:
    return next((t for t in (node.get("spec") or {}).get("taints") or []
                 if t.get("key") == UNREACHABLE and t.get("effect") == "NoExecute"), None)


def eviction_delay(pod: Obj, timeout: float) -> float | None:
    """Seconds after the taint that the pod goes; None: it tolerates the taint forever."""
    delay = timeout
    for tol in (pod.get("spec") or {}).get("tolerations") or []:
        key_ok = tol.get("key") == UNREACHABLE or (not tol.get("key") and tol.get("operator") == "Exists")
        effect_ok = tol.get("effect") in (None, "", "NoExecute")
        if key_ok and effect_ok:
            if tol.get("tolerationSeconds") is None:
                return None
            delay = min(delay, max(0.0, float(tol["tolerationSeconds"])))
    return delay


class NodeLifecycleController(PeriodicController):
    name = "node-lifecycle"

    def __init__(self, client: ApiClient, config: NodeLifecycleConfig | None = None, *,
                 owns_client: bool = False) -> None:
        self.client = client
        self._owns_client = owns_client
        self.config = config or NodeLifecycleConfig()
        self.period = self.config.monitor_period
        self.nodes = SharedInformer(client, NODES)
        self.leases = SharedInformer(client, LEASES, LEASE_NAMESPACE)
        self.informers = (self.nodes, self.leases)
        self._seen: dict[str, tuple[str, float]] = {}  # node -> (lease resourceVersion, when we saw it)

    async def stop(self) -> None:
        await super().stop()
        if self._owns_client:
            await self.client.close()

    async def run_pass(self) -> None:
        await self.monitor()

    # -- one pass -----------------------------------------------------------------------------

    def lease_fresh(self, name: str, now: float) -> bool:
        lease = self.leases.get(f"{LEASE_NAMESPACE}/{name}")
        rv = (lease or {}).get("metadata", {}).get("resourceVersion", "")
        seen = self._seen.get(name)
        if seen is None or seen[0] != rv:
            self._seen[name] = seen = (rv, now)
        return now - seen[1] <= self.config.grace_period

    async def monitor(self) -> None:
        now = time.monotonic()
        names = set()
        for node in self.nodes.list():
            name = node["metadata"]["name"]
            names.add(name)
            try:
                await self.sync_node(node, self.lease_fresh(name, now))
            except (Conflict, NotFound):
                pass  # changed or gone meanwhile: the next pass sees the new state
            except ApiError as exc:
                log.warning("node %s: %s", name, exc)
        for gone in set(self._seen) - names:
            del self._seen[gone]

    async def sync_node(self, node: Obj, fresh: bool) -> None:
        name = node["metadata"]["name"]
        ready = ready_condition(node)
        taint = unreachable_taint(node)
        if not fresh:
            if ready is None or ready.get("status") != "Unknown":
                log.info("node %s: lease not renewed for %.0fs; marking it NotReady", name,
                         self.config.grace_period)
                node = await self._set_ready(node, "Unknown", UNKNOWN_REASON,
                                             "the node agent stopped renewing its lease")
            if taint is None:
                await self._set_taint(node, add=True)
            await self._lost_pods(name, parse_time((taint or {}).get("timeAdded")))
            return
        if ready is not None and ready.get("status") == "Unknown" and ready.get("reason") == UNKNOWN_REASON:
            log.info("node %s: lease renewed again; marking it Ready", name)
            node = await self._set_ready(node, "True", "AgentReady", "pyctl-agent is renewing its lease")
        if taint is not None and (ready_condition(node) or {}).get("status") != "Unknown":
            await self._set_taint(node, add=False)

    # -- writes ---------------------------------------------------------------------------------

    async def _set_ready(self, node: Obj, status: str, reason: str, message: str) -> Obj:
        """Write the Ready condition; the node with it, for the rest of this pass (a copy: `node`
        is the informer's, shared with other components, and never changed in place)."""
        fresh = await self.client.get(NODES, node["metadata"]["name"])
        conds = fresh.setdefault("status", {}).setdefault("conditions", [])
        now = now_rfc3339(_now())
        cond = next((c for c in conds if c.get("type") == "Ready"), None)
        if cond is None:
            cond = {"type": "Ready"}
            conds.append(cond)
        if cond.get("status") != status:
            cond["lastTransitionTime"] = now
        cond.update(status=status, reason=reason, message=message)
        cond.setdefault("lastHeartbeatTime", now)
        await self.client.update_status(NODES, fresh)
        return {**node, "status": {**(node.get("status") or {}), "conditions": conds}}

    async def _set_taint(self, node: Obj, add: bool) -> None:
        fresh = await self.client.get(NODES, node["metadata"]["name"])
        spec = fresh.setdefault("spec", {})
        taints = [t for t in spec.get("taints") or [] if not (t.get("key") == UNREACHABLE and
                                                                t.get("effect") == "NoExecute")]
        if add:
            taints.append({"key": UNREACHABLE, "effect": "NoExecute", "timeAdded": now_rfc3339(_now())})
        if taints:
            spec["taints"] = taints
        else:
            spec.pop("taints", None)
        await self.client.update(NODES, fresh)  # PUT with resourceVersion: a racing edit is a Conflict

    async def _lost_pods(self, node: str, tainted_at: dt.datetime | None) -> None:
        """Pods on a lost node: no longer Ready (so Services stop sending them traffic), then,
        once the node was unreachable long enough, marked for deletion."""
        waited = (_now() - tainted_at).total_seconds() if tainted_at else -1.0
        pods = await self.client.list(PODS, field_selector=f"spec.nodeName={node}")
        for pod in pods.items:
            md = pod["metadata"]
            delay = eviction_delay(pod, self.config.eviction_timeout)
            try:
                if delay is not None and waited >= delay and not md.get("deletionTimestamp"):
                    log.info("node %s unreachable for %.0fs: marking pod %s/%s for deletion", node,
                             waited, md.get("namespace"), md["name"])
                    # Gracefully (the pod's own grace period): its containers may still run on
                    # the cut-off node, so the object stays until the node confirms or is deleted.
                    await self.client.delete(PODS, md["name"], md.get("namespace", ""), uid=md.get("uid", ""))
                elif _pod_ready(pod):
                    await self._mark_pod_not_ready(pod)
            except (NotFound, Conflict):
                pass  # changed meanwhile: the next pass decides again

    async def _mark_pod_not_ready(self, pod: Obj) -> None:
        conds = pod.setdefault("status", {}).setdefault("conditions", [])
        now = now_rfc3339(_now())
        for c in conds:
            if c.get("type") == "Ready":
                c.update(status="False", reason="NodeNotReady", lastTransitionTime=now,
                         message="the pod's node stopped reporting")
        await self.client.update_status(PODS, pod)  # with its resourceVersion: a race is a Conflict


def _pod_ready(pod: Obj) -> bool:
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in (pod.get("status") or {}).get("conditions") or [])


async def run_node_lifecycle(api_url: str, config: NodeLifecycleConfig | None = None) -> NodeLifecycleController:
    """Start the controller against an API server; `await controller.stop()` to end it."""
    controller = NodeLifecycleController(ApiClient(api_url, user_agent="pyctl-node-lifecycle"), config,
                                         owns_client=True)
    await controller.start()
    return controller
