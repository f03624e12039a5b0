"""ServiceLB: LoadBalancer Services without a cloud, as k3s's ServiceLB (klipper-lb) provides them.

A LoadBalancer Service with no `loadBalancerClass` (or pyctl's own, CLASS) gets
`status.loadBalancer.ingress` = the addresses of the nodes that serve it; every node's
service proxy forwards the Service's ports on those addresses (agent/network/serviceproxy.py
programs each load balancer address like a ClusterIP, from outside). The serving nodes are
the Ready ones not excluded from load balancers; if any node is labelled
`servicelb.pyctl.io/enabled=true`, only those (k3s's `svccontroller.k3s.cattle.io/enablelb`).
With `externalTrafficPolicy: Local`, only nodes running a ready endpoint serve, since the
others would drop the traffic. A Service of another class is left to its implementation
(MetalLB, a cloud): this controller never writes its status.

Level-triggered: Service, Node and Endpoints events enqueue Service keys; `sync` computes
the status from the caches and writes it only when it differs.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Hashable

from ..client import ApiClient, NotFound
from ..client.kinds import NODES, resource
from ..client.shared import SharedInformer
from ..client.urls import object_key
from ..events import EventRecorder
from ..machinery.types import Obj
from .lifecycle import stop_controller
from .nodeaddresses import ingress_points, serving
from .workqueue import WorkQueue

log = logging.getLogger(__name__)

SERVICES = resource("", "v1", "services")
ENDPOINTS = resource("", "v1", "endpoints")
CLASS = "pyctl.io/servicelb"
ENABLE_LABEL = "servicelb.pyctl.io/enabled"


def ours(service: Obj) -> bool:
    spec = service.get("spec") or {}
    return spec.get("type") == "LoadBalancer" and spec.get("loadBalancerClass") in (None, CLASS)


def endpoint_nodes(endpoints: Obj | None) -> set[str]:
    return {a["nodeName"] for s in (endpoints or {}).get("subsets") or [] for a in s.get("addresses") or []
            if a.get("nodeName")}


def balancer_nodes(service: Obj, nodes: list[Obj], endpoints: Obj | None) -> list[Obj]:
    """The nodes that serve a LoadBalancer Service of ours."""
    candidates = serving(nodes)
    chosen = [n for n in candidates if ((n.get("metadata") or {}).get("labels") or {}).get(ENABLE_LABEL) == "true"]
    candidates = chosen or candidates
    if (service.get("spec") or {}).get("externalTrafficPolicy") == "Local":
        local = endpoint_nodes(endpoints)
        candidates = [n for n in candidates if (n.get("metadata") or {}).get("name") in local]
    return candidates


class ServiceLBController:
    def __init__(self, client: ApiClient, *, workers: int = 1) -> None:
        self.client = client
        self.workers = workers
        self.services = SharedInformer(client, SERVICES)
        self.nodes = SharedInformer(client, NODES)
        self.endpoints = SharedInformer(client, ENDPOINTS)
        self.queue = WorkQueue("servicelb", conflict_retry=0.05)
        self.recorder = EventRecorder(client, "service-lb-controller")
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self.services.add_handlers(on_add=self._service, on_update=lambda old, new: self._service(new),
                                   on_delete=None)
        self.nodes.add_handlers(on_add=self._all, on_update=self._node_updated, on_delete=self._all)
        self.endpoints.add_handlers(on_add=self._service, on_update=lambda old, new: self._service(new),
                                    on_delete=self._service)
        for inf in (self.services, self.nodes, self.endpoints):
            inf.start()
        self._task = asyncio.create_task(self._run(), name="servicelb-controller")

    async def stop(self) -> None:
        await stop_controller(self.queue, self._task, (self.services, self.nodes, self.endpoints))

    async def _run(self) -> None:
        for inf in (self.services, self.nodes, self.endpoints):
            await inf.wait_synced()
        await self.queue.run(self.sync, self.workers)

    def _service(self, obj: Obj) -> None:
        svc = self.services.get(object_key(obj))
        if svc is not None and ours(svc):
            self.queue.add(object_key(obj))

    def _all(self, _node: Obj) -> None:
        for svc in self.services.list():
            if ours(svc):
                self.queue.add(object_key(svc))

    def _node_updated(self, old: Obj, new: Obj) -> None:
        # Heartbeats do not change what we publish: only readiness, addresses and labels do.
        def view(n: Obj) -> tuple:
            labels = (n.get("metadata") or {}).get("labels") or {}
            return bool(serving([n])), ingress_points([n]), labels.get(ENABLE_LABEL)
        if view(old) != view(new):
            self._all(new)

    async def sync(self, key: Hashable) -> None:
        svc = self.services.get(str(key))
        if svc is None or not ours(svc) or (svc.get("metadata") or {}).get("deletionTimestamp"):
            return
        nodes = balancer_nodes(svc, self.nodes.list(), self.endpoints.get(str(key)))
        wanted = [{**p, "ipMode": "VIP"} for p in ingress_points(nodes)]
        status = svc.get("status") or {}
        if ((status.get("loadBalancer") or {}).get("ingress") or []) == wanted:
            return
        body = {**svc, "status": {**status, "loadBalancer": {"ingress": wanted} if wanted else {}}}
        try:
            await self.client.update_status(SERVICES, body, svc["metadata"].get("namespace", ""))
        except NotFound:
            return
        shown = ", ".join(p["ip"] for p in wanted) or "none (no node serves it)"
        self.recorder.normal(svc, "UpdatedLoadBalancer", f"Updated LoadBalancer with new IPs: {shown}")
