"""ClusterRole aggregation controller: a ClusterRole with an aggregationRule holds the rules of
every ClusterRole its selectors match.

As kube-controller-manager's clusterrole-aggregation controller: any ClusterRole change
re-queues every aggregating ClusterRole (there are few), and `sync` writes the gathered rules
(`controlplane.auth.rbac.aggregated_rules`) only when they differ. Chains settle by
themselves: view's update re-queues edit, edit's admin.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Hashable

from ..auth.rbac import aggregated_rules
from ..client import ApiClient, Conflict, NotFound
from ..client.shared import SharedInformer
from ..client.kinds import resource
from .lifecycle import stop_controller
from .workqueue import WorkQueue

log = logging.getLogger(__name__)

CLUSTER_ROLES = resource("rbac.authorization.k8s.io", "v1", "clusterroles")


class ClusterRoleAggregationController:
    def __init__(self, client: ApiClient) -> None:
        self.client = client
        self.roles = SharedInformer(client, CLUSTER_ROLES)
        self.queue = WorkQueue("clusterrole-aggregation")
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self.roles.add_handlers(on_add=self._changed, on_update=lambda old, new: self._changed(new),
                                on_delete=self._changed)
        self.roles.start()
        self._task = asyncio.create_task(self._run(), name="clusterrole-aggregation")

    async def stop(self) -> None:
        await stop_controller(self.queue, self._task, (self.roles,))

    def _changed(self, _: dict[str, Any]) -> None:
        for role in self.roles.list():
            if role.get("aggregationRule"):
                self.queue.add(role["metadata"]["name"])

    async def _run(self) -> None:
        await self.roles.wait_synced()
        await self.queue.run(self.sync)

    async def sync(self, key: Hashable) -> None:
        name = str(key)
        role = self.roles.get(name)
        if role is None:
            return
        rules = aggregated_rules(role, self.roles.list())
        if rules is None or rules == (role.get("rules") or []):
            return
        try:
            await self.client.update(CLUSTER_ROLES, {**role, "rules": rules})
        except Conflict:
            self.queue.add_after(name, 0.05)  # changed meanwhile: its event re-queues it anyway
        except NotFound:
            return
        log.info("clusterrole %s: aggregated %d rules", name, len(rules))
