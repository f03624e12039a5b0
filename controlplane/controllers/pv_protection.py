"""The PV protection controller: a volume bound to a claim is not removed while bound.

Every volume carries `kubernetes.io/pv-protection` (admission adds it at create; this
controller adds it to any volume without it). A deleted volume loses the finalizer once it is
no longer Bound (kube's pv_protection_controller), so whatever holds the volume's data for its
claim keeps it until the claim is gone.
"""

from __future__ import annotations

import asyncio
from typing import Hashable

from ..client import ApiClient
from ..client.finalizers import set_finalizers
from ..client.kinds import PERSISTENT_VOLUMES
from ..client.shared import SharedInformer
from ..machinery import volumes as v
from ..machinery.types import Obj
from .lifecycle import stop_controller
from .workqueue import WorkQueue


class PvProtectionController:
    def __init__(self, client: ApiClient) -> None:
        self.client = client
        self.volumes = SharedInformer(client, PERSISTENT_VOLUMES)
        self.queue = WorkQueue("pv-protection", conflict_retry=0.05)
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self.volumes.add_handlers(on_add=self._volume, on_update=lambda old, new: self._volume(new))
        self.volumes.start()
        self._task = asyncio.create_task(self._run(), name="pv-protection")

    async def stop(self) -> None:
        await stop_controller(self.queue, self._task, (self.volumes,))

    async def _run(self) -> None:
        await self.volumes.wait_synced()
        await self.queue.run(self.sync)

    def _volume(self, pv: Obj) -> None:
        md = pv["metadata"]
        if md.get("deletionTimestamp") or v.PV_PROTECTION not in (md.get("finalizers") or []):
            self.queue.add(md["name"])

    async def sync(self, key: Hashable) -> None:
        pv = self.volumes.get(str(key))
        if pv is None:
            return
        finalizers = v.protection_finalizers(pv, v.PV_PROTECTION, lambda: v.phase(pv) == v.BOUND)
        if finalizers is None:
            return
        await set_finalizers(self.client, PERSISTENT_VOLUMES, pv, finalizers)
