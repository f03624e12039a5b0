"""Root CA publisher: every active namespace has the ConfigMap `kube-root-ca.crt`.

As kube-controller-manager's root-ca-cert-publisher: its `ca.crt` is the cluster CA, the one
the API server's serving certificate chains to, so a pod's projected ServiceAccount volume
(`ca.crt` beside the token) lets in-cluster clients verify the API. A ConfigMap edited or
deleted by someone is put back; a terminating namespace gets nothing. Keys are namespace
names. Without a CA (an insecure control plane) the controller publishes nothing.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Hashable

from ..client import AlreadyExists, ApiClient, Conflict, Forbidden, NotFound
from ..client.kinds import resource
from ..client.shared import SharedInformer
from ..machinery.types import Obj
from .lifecycle import stop_controller
from .workqueue import WorkQueue

log = logging.getLogger(__name__)

NAMESPACES = resource("", "v1", "namespaces")
CONFIGMAPS = resource("", "v1", "configmaps")
NAME = "kube-root-ca.crt"
DESCRIPTION = ("Contains a CA bundle that can be used to verify the kube-apiserver when using internal "
               "endpoints such as the internal service IP or kubernetes.default.svc. No other usage is "
               "guaranteed across distributions of Kubernetes clusters.")


class RootCAPublisher:
    def __init__(self, client: ApiClient, ca_pem: str) -> None:
        self.client = client
        self.ca = ca_pem
        self.namespaces = SharedInformer(client, NAMESPACES)
        self.configmaps = SharedInformer(client, CONFIGMAPS)
        self.queue = WorkQueue("root-ca-cert-publisher")
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        if not self.ca:
            return
        self.namespaces.add_handlers(on_add=self._namespace, on_update=lambda old, new: self._namespace(new))
        self.configmaps.add_handlers(on_update=lambda old, new: self._configmap(new), on_delete=self._configmap)
        self.namespaces.start()
        self.configmaps.start()
        self._task = asyncio.create_task(self._run(), name="root-ca-cert-publisher")

    async def stop(self) -> None:
        await stop_controller(self.queue, self._task, (self.namespaces, self.configmaps))

    def _namespace(self, ns: Obj) -> None:
        self.queue.add(ns["metadata"]["name"])

    def _configmap(self, cm: Obj) -> None:
        if cm["metadata"]["name"] == NAME:
            self.queue.add(cm["metadata"]["namespace"])

    async def _run(self) -> None:
        await self.namespaces.wait_synced()
        await self.configmaps.wait_synced()
        await self.queue.run(self.sync)

    def _desired(self, namespace: str) -> Obj:
        return {"apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": NAME, "namespace": namespace,
                             "annotations": {"kubernetes.io/description": DESCRIPTION}},
                "data": {"ca.crt": self.ca}}

    async def sync(self, key: Hashable) -> None:
        namespace = str(key)
        ns = self.namespaces.get(namespace)
        if ns is None or (ns.get("metadata") or {}).get("deletionTimestamp") \
                or (ns.get("status") or {}).get("phase") == "Terminating":
            return
        current = self.configmaps.get(f"{namespace}/{NAME}")
        try:
            if current is None:
                await self.client.create(CONFIGMAPS, self._desired(namespace), namespace)
                log.info("namespace %s: published %s", namespace, NAME)
            elif current.get("data") != {"ca.crt": self.ca}:
                await self.client.update(CONFIGMAPS, {**current, "data": {"ca.crt": self.ca}}, namespace)
        except (AlreadyExists, Conflict):
            self.queue.add_after(namespace, 0.5)  # the cache is behind: look again once it caught up
        except (NotFound, Forbidden):
            return  # the namespace went away or is terminating meanwhile
