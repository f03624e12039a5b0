"""The scheduler's storage: claims, volumes and classes from informers (a VolumeView for the
VolumeBinding filter), and the binding step of pods whose claims wait for their first consumer.

kube-scheduler's VolumeBinding plugin, the pyctl way. When a pod is placed on a node and some of
its claims are unbound WaitForFirstConsumer claims, the scheduler writes the node on each such
claim (`volume.kubernetes.io/selected-node`) and does not bind the pod yet: the binder takes a
matching volume that node may use, or the provisioner makes one there. The pod waits, parked,
until every claim is Bound (claim changes bring it back), and only then is bound, to the node
its volumes now pin it to. All of it is written on the claims, so a scheduler restarted at any
point finds the choice there and goes on; a provisioner that cannot use the node removes the
annotation, and the pod is placed again.
"""

from __future__ import annotations

import logging
from typing import Any, Callable, Coroutine

from ..client import ApiClient, ApiError, NotFound
from ..client.kinds import PERSISTENT_VOLUME_CLAIMS, PERSISTENT_VOLUMES, STORAGE_CLASSES
from ..client.shared import SharedInformer
from ..machinery import volumes as v
from ..machinery.meta import deep_copy
from ..machinery.types import Obj

log = logging.getLogger(__name__)

Spawn = Callable[[Coroutine[Any, Any, None]], None]


class SchedulerVolumes:
    """Claims, volumes and classes as the scheduler sees them (VolumeView), and node selection."""

    def __init__(self, client: ApiClient, changed: Callable[[], None], requeue: Callable[[str], None]) -> None:
        """`changed`: storage changed (unschedulable pods may fit now); `requeue(pod key)`: a
        claim a waiting pod needs changed."""
        self.client = client
        self._changed = changed
        self._requeue = requeue
        self.waiting: dict[str, set[str]] = {}  # claim key -> pods waiting for it to be bound
        self.claims = SharedInformer(client, PERSISTENT_VOLUME_CLAIMS)
        self.pvs = SharedInformer(client, PERSISTENT_VOLUMES)
        self.classes = SharedInformer(client, STORAGE_CLASSES)
        self.assumed: dict[str, str] = {}  # claim key -> node written (or being written), not yet seen
        for informer in self._informers:
            informer.add_handlers(on_add=self._event, on_update=lambda old, new: self._event(new),
                                  on_delete=self._event)

    @property
    def _informers(self) -> tuple[SharedInformer, ...]:
        return (self.claims, self.pvs, self.classes)

    def start(self) -> None:
        for informer in self._informers:
            informer.start()

    async def stop(self) -> None:
        for informer in self._informers:
            await informer.stop()

    async def wait_synced(self, timeout: float | None = None) -> None:
        for informer in self._informers:
            await informer.wait_synced(timeout)

    def _event(self, obj: Obj) -> None:
        if obj.get("kind") == "PersistentVolumeClaim":
            key = v.key_of(obj)
            if v.selected_node(obj):
                self.assumed.pop(key, None)  # the write is visible now
            for pod in self.waiting.pop(key, ()):
                self._requeue(pod)
        self._changed()  # a claim bound, a volume made: unschedulable pods may fit now

    # -- VolumeView ---------------------------------------------------------------------------------

    def claim(self, namespace: str, name: str) -> Obj | None:
        return self.claims.get(f"{namespace}/{name}")

    def volume(self, name: str) -> Obj | None:
        return self.pvs.get(name)

    def storage_class(self, name: str) -> Obj | None:
        return self.classes.get(name) if name else None

    def volumes(self) -> list[Obj]:
        return self.pvs.list()

    def selected_node(self, claim: Obj) -> str:
        return v.selected_node(claim) or self.assumed.get(v.key_of(claim), "")

    def reserved_bytes(self, besides: frozenset[str]) -> dict[str, int]:
        out: dict[str, int] = {}
        for pvc in self.claims.list():
            node = self.selected_node(pvc)
            if not node or v.key_of(pvc) in besides or (pvc.get("spec") or {}).get("volumeName"):
                continue
            sc = self.storage_class(v.class_of(pvc))
            if sc is not None and sc.get("provisioner") == v.LOCAL_PATH \
                    and self.pvs.get(f"pvc-{pvc['metadata'].get('uid', '')}") is None:
                out[node] = out.get(node, 0) + v.requested_bytes(pvc)
        return out

    # -- the binding step ---------------------------------------------------------------------------

    def ready_to_bind(self, pod: Obj, key: str, node: str, spawn: Spawn) -> bool:
        """True when every claim of the pod is bound: bind it now. Else the unbound claims waiting
        for a consumer are given `node` (written in the background), and the pod (`key`) waits:
        a change of any of those claims puts it back in the queue."""
        namespace = (pod.get("metadata") or {}).get("namespace") or "default"
        ready = True
        for name in v.claim_names(pod):
            pvc = self.claim(namespace, name)
            if pvc is None or (pvc.get("spec") or {}).get("volumeName"):
                continue  # missing claims were the filter's business
            ready = False
            self.waiting.setdefault(v.key_of(pvc), set()).add(key)
            if not self.selected_node(pvc):
                self.assumed[v.key_of(pvc)] = node
                spawn(self._select(pvc, node))
        return ready

    async def _select(self, pvc: Obj, node: str) -> None:
        key = v.key_of(pvc)
        new = deep_copy(pvc)
        new["metadata"]["annotations"] = {**v.annotations_of(pvc), v.SELECTED_NODE: node}
        try:
            await self.client.update(PERSISTENT_VOLUME_CLAIMS, new)
            log.info("claim %s: selected node %s for its volume", key, node)
        except (NotFound, ApiError) as exc:  # a conflict or a race: look again from the claim
            log.debug("claim %s: selecting node %s: %s", key, node, exc)
            self.assumed.pop(key, None)
            for pod in self.waiting.pop(key, ()):
                self._requeue(pod)
