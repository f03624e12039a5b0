"""Ingress status: the Ingresses pyctl's proxy serves get the addresses of the nodes running it.

An Ingress of pyctl's IngressClass (machinery/ingress.py decides) gets
`status.loadBalancer.ingress` = the addresses of the Ready nodes whose agent runs the ingress
proxy (Node label ingress.pyctl.io/proxy=true, set by the agent when it registers) and that
are not excluded from load balancers, as ingress-nginx publishes its controller pods' nodes.
The routing itself reaches those agents through the gateway (gateway/ingresses.py). An
Ingress of another class is left alone. Level-triggered: Ingress, IngressClass and Node
events enqueue Ingress keys; `sync` writes the status only when it differs.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Hashable

from ..client import ApiClient, NotFound
from ..client.kinds import NODES, resource
from ..client.shared import SharedInformer
from ..client.urls import object_key
from ..machinery.ingress import PROXY_NODE_LABEL, handled
from ..machinery.types import Obj
from .lifecycle import stop_controller
from .nodeaddresses import ingress_points, serving
from .workqueue import WorkQueue

log = logging.getLogger(__name__)

INGRESSES = resource("networking.k8s.io", "v1", "ingresses")
INGRESS_CLASSES = resource("networking.k8s.io", "v1", "ingressclasses")


def proxy_nodes(nodes: list[Obj]) -> list[Obj]:
    return [n for n in serving(nodes)
            if ((n.get("metadata") or {}).get("labels") or {}).get(PROXY_NODE_LABEL) == "true"]


class IngressController:
    def __init__(self, client: ApiClient, *, workers: int = 1) -> None:
        self.client = client
        self.workers = workers
        self.ingresses = SharedInformer(client, INGRESSES)
        self.classes = SharedInformer(client, INGRESS_CLASSES)
        self.nodes = SharedInformer(client, NODES)
        self.queue = WorkQueue("ingress", conflict_retry=0.05)
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self.ingresses.add_handlers(on_add=self._ingress, on_update=lambda old, new: self._ingress(new))
        self.classes.add_handlers(on_add=self._all, on_update=lambda old, new: self._all(new), on_delete=self._all)
        self.nodes.add_handlers(on_add=self._all, on_update=self._node_updated, on_delete=self._all)
        for inf in (self.ingresses, self.classes, self.nodes):
            inf.start()
        self._task = asyncio.create_task(self._run(), name="ingress-controller")

    async def stop(self) -> None:
        await stop_controller(self.queue, self._task, (self.ingresses, self.classes, self.nodes))

    async def _run(self) -> None:
        for inf in (self.ingresses, self.classes, self.nodes):
            await inf.wait_synced()
        await self.queue.run(self.sync, self.workers)

    def _ingress(self, obj: Obj) -> None:
        self.queue.add(object_key(obj))

    def _all(self, _obj: Obj) -> None:
        for ing in self.ingresses.list():
            self.queue.add(object_key(ing))

    def _node_updated(self, old: Obj, new: Obj) -> None:
        if ingress_points(proxy_nodes([old])) != ingress_points(proxy_nodes([new])):
            self._all(new)

    def _classes(self) -> dict[str, Obj]:
        return {(c.get("metadata") or {}).get("name", ""): c for c in self.classes.list()}

    async def sync(self, key: Hashable) -> None:
        ing = self.ingresses.get(str(key))
        if ing is None or not handled(ing, self._classes()) or (ing.get("metadata") or {}).get("deletionTimestamp"):
            return
        wanted = ingress_points(proxy_nodes(self.nodes.list()))
        status = ing.get("status") or {}
        if ((status.get("loadBalancer") or {}).get("ingress") or []) == wanted:
            return
        body = {**ing, "status": {**status, "loadBalancer": {"ingress": wanted} if wanted else {}}}
        try:
            await self.client.update_status(INGRESSES, body, ing["metadata"].get("namespace", ""))
        except NotFound:
            pass
