"""ServiceAccounts controller: every active namespace has a ServiceAccount named `default`.

As kube-controller-manager's serviceaccount controller: a new namespace gets `default` at
once, and a deleted `default` is made again; a terminating namespace gets nothing (its
content is being removed). Keys are namespace names; `sync` re-reads both caches.
No token is made or mounted: pods only name their ServiceAccount for now.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Hashable

from ..client import AlreadyExists, ApiClient, Forbidden, NotFound
from ..client.shared import SharedInformer
from ..client.kinds import resource
from .lifecycle import stop_controller
from .workqueue import WorkQueue
from ..machinery.types import Obj

log = logging.getLogger(__name__)

NAMESPACES = resource("", "v1", "namespaces")
SERVICE_ACCOUNTS = resource("", "v1", "serviceaccounts")
DEFAULT = "default"


class ServiceAccountsController:
    def __init__(self, client: ApiClient) -> None:
        self.client = client
        self.namespaces = SharedInformer(client, NAMESPACES)
        self.accounts = SharedInformer(client, SERVICE_ACCOUNTS)
        self.queue = WorkQueue("serviceaccounts")
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self.namespaces.add_handlers(on_add=self._namespace, on_update=lambda old, new: self._namespace(new))
        self.accounts.add_handlers(on_delete=self._account)
        self.namespaces.start()
        self.accounts.start()
        self._task = asyncio.create_task(self._run(), name="serviceaccounts")

    async def stop(self) -> None:
        await stop_controller(self.queue, self._task, (self.namespaces, self.accounts))

    def _namespace(self, ns: Obj) -> None:
        self.queue.add(ns["metadata"]["name"])

    def _account(self, sa: Obj) -> None:
        if sa["metadata"]["name"] == DEFAULT:
            self.queue.add(sa["metadata"]["namespace"])

    async def _run(self) -> None:
        await self.namespaces.wait_synced()
        await self.accounts.wait_synced()
        await self.queue.run(self.sync)

    async def sync(self, key: Hashable) -> None:
        namespace = str(key)
        ns = self.namespaces.get(namespace)
        if ns is None or (ns.get("metadata") or {}).get("deletionTimestamp"):
            return
        if (ns.get("status") or {}).get("phase") == "Terminating":
            return
        if self.accounts.get(f"{namespace}/{DEFAULT}") is not None:
            return
        account = {"apiVersion": "v1", "kind": "ServiceAccount",
                   "metadata": {"name": DEFAULT, "namespace": namespace}}
        try:
            await self.client.create(SERVICE_ACCOUNTS, account, namespace)
        except AlreadyExists:
            return  # the cache has not seen it yet
        except (NotFound, Forbidden):
            return  # the namespace went away or is terminating meanwhile
        log.info("namespace %s: created ServiceAccount %s", namespace, DEFAULT)
