"""The PVC protection controller: a claim in use is not removed until no pod uses it.

Every claim carries `kubernetes.io/pvc-protection` (admission adds it at create; this
controller adds it to any claim without it). When a claim is deleted, the finalizer is
removed only once no pod that is bound to a node, and not finished, names the claim in its
volumes (kube's pvc_protection_controller: a pod not yet scheduled never mounts a claim being
deleted, as the scheduler refuses it). A pod being deleted still counts: its node may still be
writing to the volume until the pod is gone.
"""

from __future__ import annotations

import asyncio
from typing import Hashable

from ..client import ApiClient
from ..client.finalizers import set_finalizers
from ..client.kinds import PERSISTENT_VOLUME_CLAIMS, PODS
from ..client.shared import SharedInformer
from ..client.urls import object_key
from ..machinery import volumes as v
from ..machinery.types import Obj
from .lifecycle import stop_controller
from .workqueue import WorkQueue


def uses(pod: Obj, namespace: str, claim: str) -> bool:
    """Whether a pod holds the claim: on a node, not Succeeded or Failed, naming it."""
    md, spec = pod.get("metadata") or {}, pod.get("spec") or {}
    if (md.get("namespace") or "default") != namespace or not spec.get("nodeName"):
        return False
    if (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
        return False
    return claim in v.claim_names(pod)


class PvcProtectionController:
    def __init__(self, client: ApiClient) -> None:
        self.client = client
        self.claims = SharedInformer(client, PERSISTENT_VOLUME_CLAIMS)
        self.pods = SharedInformer(client, PODS)
        self.queue = WorkQueue("pvc-protection", conflict_retry=0.05)
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self.claims.add_handlers(on_add=self._claim, on_update=lambda old, new: self._claim(new))
        self.pods.add_handlers(on_update=lambda old, new: self._pod(new), on_delete=self._pod)
        self.claims.start()
        self.pods.start()
        self._task = asyncio.create_task(self._run(), name="pvc-protection")

    async def stop(self) -> None:
        await stop_controller(self.queue, self._task, (self.claims, self.pods))

    async def _run(self) -> None:
        await self.claims.wait_synced()
        await self.pods.wait_synced()
        await self.queue.run(self.sync)

    def _claim(self, pvc: Obj) -> None:
        finalizers = pvc["metadata"].get("finalizers") or []
        if pvc["metadata"].get("deletionTimestamp") or v.PVC_PROTECTION not in finalizers:
            self.queue.add(object_key(pvc))

    def _pod(self, pod: Obj) -> None:
        ns = (pod.get("metadata") or {}).get("namespace") or "default"
        for name in v.claim_names(pod):
            pvc = self.claims.get(f"{ns}/{name}")
            if pvc is not None and pvc["metadata"].get("deletionTimestamp"):
                self.queue.add(f"{ns}/{name}")

    async def sync(self, key: Hashable) -> None:
        pvc = self.claims.get(str(key))
        if pvc is None:
            return
        md = pvc["metadata"]
        namespace = md.get("namespace") or "default"
        # A pod on a node still using it keeps it (pods going away enqueue it again).
        finalizers = v.protection_finalizers(
            pvc, v.PVC_PROTECTION, lambda: any(uses(pod, namespace, md["name"]) for pod in self.pods.list()))
        if finalizers is None:
            return
        await set_finalizers(self.client, PERSISTENT_VOLUME_CLAIMS, pvc, finalizers)
