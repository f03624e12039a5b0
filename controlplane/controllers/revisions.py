"""ControllerRevisions as the DaemonSet and StatefulSet controllers keep them (kube's controller/history).

One shared informer on ControllerRevisions, indexed by owner; `claimed` adopts the orphans a
workload's selector matches and releases its own that no longer match; `create` writes a new
revision and, when its name is taken, either finds that the revision there is the same (written
by an earlier run whose write the cache had not shown yet) or reports a name collision, which
the caller resolves by bumping its status.collisionCount (the hash takes it into account).
"""

from __future__ import annotations

from ..client import AlreadyExists, ApiClient, NotFound
from ..client.kinds import resource
from ..client.shared import SharedInformer
from ..client.urls import object_key
from ..machinery import history
from ..machinery.types import Obj
from .adoption import Owned, claim
from .ownership import owner_reference, selector_of
from .workqueue import WorkQueue

CONTROLLER_REVISIONS = resource("apps", "v1", "controllerrevisions")


def _selects(owner: Obj, rev: Obj) -> bool:
    selector = selector_of(owner)
    return not selector.empty and selector.matches(rev["metadata"].get("labels") or {})


class NameCollision(Exception):
    """A different revision holds the name: the owner's collisionCount must go up."""


class Revisions:
    """The revisions of one workload kind (`kind`: "DaemonSet" or "StatefulSet")."""

    def __init__(self, client: ApiClient, kind: str, owners: SharedInformer, queue: WorkQueue) -> None:
        self.client = client
        self.kind = kind
        self.informer = SharedInformer(client, CONTROLLER_REVISIONS)
        self.owned = Owned(self.informer, owners, kind, queue,
                           lambda owner, rev: _selects(owner, rev))

    def start(self) -> None:
        self.owned.attach()
        self.informer.start()

    async def stop(self) -> None:
        await self.informer.stop()

    async def claimed(self, owner: Obj) -> list[Obj]:
        """The revisions `owner` controls, oldest first, after adoption and release."""
        owned = await claim(self.client, CONTROLLER_REVISIONS, owner, self.kind, "apps/v1",
                            self.owned.candidates(owner), lambda r: _selects(owner, r))
        return history.by_number(owned)

    def body(self, owner: Obj, name: str, data: Obj, number: int, labels: dict[str, str]) -> Obj:
        md = owner["metadata"]
        meta: Obj = {"name": name, "namespace": md.get("namespace", ""), "labels": labels,
                     "ownerReferences": [owner_reference(owner, self.kind, "apps/v1")]}
        if md.get("annotations"):
            meta["annotations"] = dict(md["annotations"])
        return {"apiVersion": "apps/v1", "kind": "ControllerRevision", "metadata": meta, "data": data,
                "revision": number}

    async def create(self, rev: Obj) -> Obj:
        """Create `rev`; the revision already there if it is the same; NameCollision otherwise."""
        md = rev["metadata"]
        try:
            return await self.client.create(CONTROLLER_REVISIONS, rev, md["namespace"])
        except AlreadyExists:
            existing = await self.client.get(CONTROLLER_REVISIONS, md["name"], md["namespace"])
            if history.template_of(existing) == history.template_of(rev):
                return existing
            raise NameCollision(f"{object_key(rev)} holds another revision") from None

    async def renumber(self, rev: Obj, number: int) -> Obj:
        """Give `rev` the revision number `number` (a rollback to it, or a duplicate made current)."""
        return await self.client.update(CONTROLLER_REVISIONS, {**rev, "revision": number})

    async def delete(self, rev: Obj) -> None:
        md = rev["metadata"]
        try:
            await self.client.delete(CONTROLLER_REVISIONS, md["name"], md.get("namespace", ""), uid=md.get("uid", ""))
        except NotFound:
            pass
