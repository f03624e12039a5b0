"""A StatefulSet's PersistentVolumeClaims: one per volumeClaimTemplate and ordinal, named
`<template>-<set>-<ordinal>`, created before the pod that mounts it, owned as the set's
persistentVolumeClaimRetentionPolicy says (kube's stateful_pod_control.go and the claim parts of
stateful_set_utils.go).

Retention, by owner references the garbage collector acts on:

    whenDeleted Retain, whenScaled Retain: no owner reference from the set or the pod
    whenDeleted Delete:                    the set owns the claims (with whenScaled Delete: those of
                                           the pods in its ordinal range)
    whenScaled Delete:                     a pod scaled away owns its claims (they go with it)

The PersistentVolumeClaim kind belongs to the storage work; until the API serves it, `Claims`
says so (ClaimsNotServed) instead of writing, and the StatefulSet controller reports it.
"""

from __future__ import annotations

import copy
from typing import Callable

from ..client import AlreadyExists, ApiClient, NotFound
from ..client.shared import SharedInformer
from ..machinery.types import Obj
from ..resources.registry import lookup
from .adoption import set_owners
from .ownership import owner_reference

RETAIN, DELETE = "Retain", "Delete"


class ClaimsNotServed(Exception):
    """The API serves no v1 PersistentVolumeClaims: claim templates cannot be honoured yet."""


class ClaimBeingDeleted(Exception):
    """A claim the pod needs is being deleted: the pod must wait for it to go."""


# -- pure ------------------------------------------------------------------------------------

def templates(sts: Obj) -> list[Obj]:
    return [t for t in (sts.get("spec") or {}).get("volumeClaimTemplates") or [] if isinstance(t, dict)]


def claim_name(sts: Obj, template: Obj, ordinal: int) -> str:
    return f"{(template.get('metadata') or {}).get('name', '')}-{sts['metadata']['name']}-{ordinal}"


def retention(sts: Obj) -> tuple[str, str]:
    """(whenDeleted, whenScaled), Retain where unset."""
    policy = (sts.get("spec") or {}).get("persistentVolumeClaimRetentionPolicy") or {}
    return policy.get("whenDeleted") or RETAIN, policy.get("whenScaled") or RETAIN


def new_claim(sts: Obj, template: Obj, ordinal: int) -> Obj:
    """The claim of `template` for `ordinal`: its name, the set's namespace, the template's labels
    with the selector's matchLabels on top (getPersistentVolumeClaims)."""
    claim = copy.deepcopy(template)
    claim.pop("status", None)
    md = claim.setdefault("metadata", {})
    md["name"] = claim_name(sts, template, ordinal)
    md["namespace"] = sts["metadata"].get("namespace", "")
    match = ((sts.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
    md["labels"] = {**(md.get("labels") or {}), **match}
    claim["apiVersion"], claim["kind"] = "v1", "PersistentVolumeClaim"
    return claim


def _is_ref(ref: Obj, obj: Obj, kind: str, api_version: str) -> bool:
    return ref.get("apiVersion") == api_version and ref.get("kind") == kind and \
        ref.get("name") == (obj.get("metadata") or {}).get("name")


def _stale(refs: list[Obj], obj: Obj, kind: str, api_version: str) -> bool:
    """A reference to `obj` by name but to another uid (a predecessor of the same name)."""
    uid = (obj.get("metadata") or {}).get("uid", "")
    return any(_is_ref(r, obj, kind, api_version) and r.get("uid") != uid for r in refs)


def has_stale_pod_owner(claim: Obj, pod: Obj) -> bool:
    """Owned by an earlier pod of this name: the garbage collector is about to take it."""
    return _stale((claim.get("metadata") or {}).get("ownerReferences") or [], pod, "Pod", "v1")


def wanted_owners(claim: Obj, sts: Obj, pod: Obj, in_range: bool) -> list[Obj] | None:
    """The claim's ownerReferences as the retention policy wants them; None to leave them alone
    (stale references, or another controller: the claim is not ours to manage)."""
    refs = list((claim.get("metadata") or {}).get("ownerReferences") or [])
    if _stale(refs, sts, "StatefulSet", "apps/v1") or _stale(refs, pod, "Pod", "v1"):
        return None
    when_deleted, when_scaled = retention(sts)
    ours = lambda r: _is_ref(r, sts, "StatefulSet", "apps/v1") or _is_ref(r, pod, "Pod", "v1")  # noqa: E731
    other_controller = any(r.get("controller") and not ours(r) for r in refs)
    kept = [r for r in refs if not ours(r)]
    if (when_deleted, when_scaled) != (RETAIN, RETAIN) and other_controller:
        return kept
    if when_deleted == DELETE and (when_scaled == RETAIN or in_range):
        kept.append(owner_reference(sts, "StatefulSet", "apps/v1"))
    if when_scaled == DELETE and not in_range and (pod.get("metadata") or {}).get("uid"):
        kept.append(owner_reference(pod, "Pod", "v1"))
    return kept


def owners_up_to_date(claim: Obj, sts: Obj, pod: Obj, in_range: bool) -> bool:
    wanted = wanted_owners(claim, sts, pod, in_range)
    if wanted is None:
        return True
    have = (claim.get("metadata") or {}).get("ownerReferences") or []
    def key(refs: list[Obj]) -> list[tuple[str, bool]]:
        return sorted((r.get("uid", ""), bool(r.get("controller"))) for r in refs)
    return key(have) == key(wanted)


# -- the claims a controller reads and writes --------------------------------------------------

class Claims:
    """PersistentVolumeClaims through the API (an informer when the kind is served)."""

    def __init__(self, client: ApiClient, on_change: Callable[[Obj], None]) -> None:
        self.client = client
        self.info = lookup("", "v1", "persistentvolumeclaims")
        self.informer = SharedInformer(client, self.info) if self.info is not None else None
        self._on_change = on_change

    @property
    def served(self) -> bool:
        return self.info is not None

    def start(self) -> None:
        if self.informer is not None:
            self.informer.add_handlers(on_add=self._on_change, on_update=lambda old, new: self._on_change(new),
                                       on_delete=self._on_change)
            self.informer.start()

    async def stop(self) -> None:
        if self.informer is not None:
            await self.informer.stop()

    async def wait_synced(self) -> None:
        if self.informer is not None:
            await self.informer.wait_synced()

    def get(self, namespace: str, name: str) -> Obj | None:
        return self.informer.get(f"{namespace}/{name}") if self.informer is not None else None

    async def ensure(self, sts: Obj, pod: Obj, ordinal: int, in_range: bool) -> list[str]:
        """Create the pod's missing claims; the names of those it created. ClaimsNotServed,
        ClaimBeingDeleted or an ApiError when the pod cannot have them."""
        wanted = templates(sts)
        if not wanted:
            return []
        if self.info is None:
            raise ClaimsNotServed("the API server does not serve persistentvolumeclaims (v1) yet")
        made = []
        for template in wanted:
            claim = new_claim(sts, template, ordinal)
            md = claim["metadata"]
            existing = self.get(md["namespace"], md["name"])
            if existing is not None:
                if existing["metadata"].get("deletionTimestamp"):
                    raise ClaimBeingDeleted(f"pvc {md['name']} is being deleted")
                continue
            md["ownerReferences"] = wanted_owners(claim, sts, pod, in_range) or None
            if md["ownerReferences"] is None:
                del md["ownerReferences"]
            try:
                await self.client.create(self.info, claim, md["namespace"])
                made.append(md["name"])
            except AlreadyExists:
                pass  # made by an earlier run whose write the cache has not shown yet
        return made

    def stale(self, sts: Obj, pod: Obj, ordinal: int) -> bool:
        """A claim still owned by an earlier pod of this ordinal (whenScaled Delete): wait."""
        if retention(sts)[1] == RETAIN:
            return False
        for template in templates(sts):
            claim = self.get(sts["metadata"].get("namespace", ""), claim_name(sts, template, ordinal))
            if claim is not None and has_stale_pod_owner(claim, pod):
                return True
        return False

    def match_retention(self, sts: Obj, pod: Obj, ordinal: int, in_range: bool) -> bool:
        for template in templates(sts):
            claim = self.get(sts["metadata"].get("namespace", ""), claim_name(sts, template, ordinal))
            if claim is not None and not owners_up_to_date(claim, sts, pod, in_range):
                return False
        return True

    async def apply_retention(self, sts: Obj, pod: Obj, ordinal: int, in_range: bool) -> None:
        """Set the owner references of the pod's claims as the retention policy wants them."""
        assert self.info is not None or not templates(sts)
        for template in templates(sts):
            claim = self.get(sts["metadata"].get("namespace", ""), claim_name(sts, template, ordinal))
            if claim is None or self.info is None or owners_up_to_date(claim, sts, pod, in_range):
                continue
            wanted = wanted_owners(claim, sts, pod, in_range)
            if wanted is not None:
                try:
                    await set_owners(self.client, self.info, claim, wanted)
                except NotFound:
                    pass
