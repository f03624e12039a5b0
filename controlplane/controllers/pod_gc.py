"""Pod garbage collector (Kubernetes' PodGC): force-deletes the pods that no agent will ever
stop and confirm, and only those.

A pod bound to a node is removed by that node's agent: it stops the containers, then does the
final (grace 0) delete. The node lifecycle controller only *marks* the pods of an unreachable
node for deletion, because their containers may still run there. Two cases have no agent left
to confirm, and this controller force-deletes their pods:

* the pod's Node object does not exist (it was deleted, or the pod names a node that never
  registered): once the node has been missing from the cache for `quarantine` seconds and a
  fresh GET still answers NotFound, so a node being created or a lagging watch is never taken
  for a deleted one;
* the pod is terminating on a node that is not Ready and carries the
  `node.kubernetes.io/out-of-service` taint: an administrator's word that the node is down for
  good and its workloads may run elsewhere.

Level-triggered: every `period` it recomputes both sets from the Node and Pod informers.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from ..client import ApiClient, ApiError, Conflict, NotFound
from ..client.kinds import NODES, PODS
from ..client.shared import SharedInformer
from ..machinery.types import Obj
from .lifecycle import PeriodicController
from .node_lifecycle import ready_condition

log = logging.getLogger(__name__)

OUT_OF_SERVICE = "node.kubernetes.io/out-of-service"


@dataclass(frozen=True)
class PodGCConfig:
    period: float = 20.0
    """Seconds between passes (kube-controller-manager's gc period)."""
    quarantine: float = 40.0
    """Seconds a pod's node must be missing before its pods go (kube's quarantine time)."""


def out_of_service(node: Obj) -> bool:
    """Not Ready and tainted out-of-service by an administrator."""
    tainted = any(t.get("key") == OUT_OF_SERVICE and t.get("effect") == "NoExecute"
                  for t in (node.get("spec") or {}).get("taints") or [])
    return tainted and (ready_condition(node) or {}).get("status") != "True"


class PodGC(PeriodicController):
    name = "pod-gc"

    def __init__(self, client: ApiClient, config: PodGCConfig | None = None) -> None:
        self.client = client
        self.config = config or PodGCConfig()
        self.period = self.config.period
        self.nodes = SharedInformer(client, NODES)
        self.pods = SharedInformer(client, PODS)
        self.informers = (self.nodes, self.pods)
        self._missing: dict[str, float] = {}  # node name -> when this controller first missed it

    async def run_pass(self) -> None:
        await self.collect()

    async def collect(self) -> None:
        """One pass: force-delete the pods of deleted nodes and of out-of-service nodes."""
        now = time.monotonic()
        by_node: dict[str, list[Obj]] = {}
        for pod in self.pods.list():
            node = (pod.get("spec") or {}).get("nodeName")
            if node:
                by_node.setdefault(node, []).append(pod)
        for name in list(self._missing):
            if name not in by_node or self.nodes.get(name) is not None:
                del self._missing[name]
        for name, pods in by_node.items():
            node = self.nodes.get(name)
            if node is None:
                if await self._gone(name, now):
                    await self._force_delete(pods, f"node {name} no longer exists")
            elif out_of_service(node):
                await self._force_delete([p for p in pods if p["metadata"].get("deletionTimestamp")],
                                         f"node {name} is out of service")

    async def _gone(self, name: str, now: float) -> bool:
        since = self._missing.setdefault(name, now)
        if now - since < self.config.quarantine:
            return False
        try:
            await self.client.get(NODES, name)
        except NotFound:
            return True
        return False  # it exists after all (the cache lags): leave its pods alone

    async def _force_delete(self, pods: list[Obj], why: str) -> None:
        for pod in pods:
            md = pod["metadata"]
            log.info("force-deleting pod %s/%s: %s", md.get("namespace"), md["name"], why)
            try:
                await self.client.delete(PODS, md["name"], md.get("namespace", ""), grace_period_seconds=0,
                                         uid=md.get("uid", ""))
            except (NotFound, Conflict):
                pass  # gone or replaced meanwhile
            except ApiError as exc:
                log.warning("force-deleting pod %s/%s: %s", md.get("namespace"), md["name"], exc)
