"""Namespace controller: a namespace being deleted is emptied, then finalized away.

For a namespace with a deletionTimestamp it deletes every object of every namespaced kind
the API serves inside it (as discovery says on each pass, so the kinds of CRDs count too), polls until none remain (pods stopping gracefully and objects held
by finalizers take a while), and then sends `PUT /api/v1/namespaces/NAME/finalize` without
the `kubernetes` token so the API server removes the namespace. Like Kubernetes it reports
progress as status conditions (NamespaceDeletionContentFailure, NamespaceContentRemaining,
NamespaceFinalizersRemaining). Level-triggered: everything is recomputed from a fresh list
on each pass, so a restart simply starts the next pass.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from dataclasses import dataclass
from typing import Hashable, Iterable

from ..client import ApiClient, ApiError, Conflict, NotFound
from ..client.discovery import served
from ..client.shared import SharedInformer
from ..client.kinds import resource
from ..resources.registry import ResourceInfo, resources
from .workqueue import WorkQueue
from .lifecycle import stop_controller
from ..machinery.types import Obj

log = logging.getLogger(__name__)

NAMESPACES = resource("", "v1", "namespaces")
FINALIZER = "kubernetes"


@dataclass(frozen=True)
class NamespaceConfig:
    poll_period: float = 1.0
    """Seconds between passes while a terminating namespace still has content."""
    workers: int = 2
    """Namespaces emptied concurrently."""
    deletes_in_flight: int = 16
    """DELETE requests in flight at once, over all namespaces."""


@dataclass
class Remaining:
    """What one pass found still inside a namespace."""
    counts: dict[str, int]  # group_resource -> objects left
    finalizers: dict[str, int]  # finalizer -> objects held by it
    failures: list[str]
    found: int = 0  # objects this pass listed (deleted now or not)

    @property
    def empty(self) -> bool:
        return not self.counts and not self.failures


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


# type -> (reason when fine, message when fine, reason when not)
_CONDITIONS = {
    "NamespaceDeletionContentFailure": ("ContentDeleted", "All content successfully deleted, may be waiting "
                                        "on finalization", "ContentDeletionFailed"),
    "NamespaceContentRemaining": ("ContentRemoved", "All content successfully removed", "SomeResourcesRemain"),
    "NamespaceFinalizersRemaining": ("ContentHasNoFinalizers", "All content-preserving finalizers finished",
                                     "SomeFinalizersRemain"),
}


def conditions(rem: Remaining) -> list[Obj]:
    """The namespace's deletion conditions for what a pass found, worded as Kubernetes words them."""
    problems = {
        "NamespaceDeletionContentFailure":
            "Failed to delete all resource types, " + "; ".join(rem.failures) if rem.failures else "",
        "NamespaceContentRemaining": "Some resources are remaining: " + ", ".join(
            f"{r} has {n} resource instances" for r, n in sorted(rem.counts.items())) if rem.counts else "",
        "NamespaceFinalizersRemaining": "Some content in the namespace has finalizers remaining: " + ", ".join(
            f"{f} in {n} resource instances" for f, n in sorted(rem.finalizers.items())) if rem.finalizers else "",
    }
    out = []
    for type_, (ok_reason, ok_message, bad_reason) in _CONDITIONS.items():
        problem = problems[type_]
        out.append({"type": type_, "status": "True" if problem else "False",
                    "reason": bad_reason if problem else ok_reason, "message": problem or ok_message})
    return out


class NamespaceController:
    def __init__(self, client: ApiClient, config: NamespaceConfig | None = None, *,
                 kinds: tuple[ResourceInfo, ...] | None = None, owns_client: bool = False) -> None:
        self.client = client
        self.config = config or NamespaceConfig()
        self._owns_client = owns_client
        # Every namespaced kind that can be listed and deleted is content to remove: the given
        # kinds, else what discovery says on each pass (this process's built-in kinds until then).
        self._fixed = kinds is not None
        self.kinds = self._content_kinds(kinds or resources())
        self.namespaces = SharedInformer(client, NAMESPACES)
        self.queue = WorkQueue("namespace")
        self._slots = asyncio.Semaphore(self.config.deletes_in_flight)
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self.namespaces.add_handlers(on_add=self._enqueue, on_update=lambda old, new: self._enqueue(new))
        self.namespaces.start()
        self._task = asyncio.create_task(self._run(), name="namespace-controller")

    async def stop(self) -> None:
        await stop_controller(self.queue, self._task, (self.namespaces,))
        if self._owns_client:
            await self.client.close()

    async def _run(self) -> None:
        await self.namespaces.wait_synced()
        await self.queue.run(self.sync, self.config.workers)

    def _enqueue(self, ns: Obj) -> None:
        if ns["metadata"].get("deletionTimestamp"):
            self.queue.add(ns["metadata"]["name"])

    # -- sync ---------------------------------------------------------------------------------

    async def sync(self, key: Hashable) -> None:
        name = str(key)
        try:
            ns = await self.client.get(NAMESPACES, name)  # fresh: the cache may be a step behind
        except NotFound:
            return
        if not ns["metadata"].get("deletionTimestamp"):
            return
        if FINALIZER not in ((ns.get("spec") or {}).get("finalizers") or []):
            return  # our part is done; other finalizers belong to others
        rem = await self.delete_content(name)
        await self._set_conditions(ns, rem)
        if not rem.empty:
            log.debug("namespace %s: still %s", name, rem.counts or rem.failures)
            self.queue.add_after(name, self.config.poll_period)
            return
        if rem.found:
            # Finalize only after a pass that found nothing at all: the proof that it is empty.
            self.queue.add(name)
            return
        ns["spec"]["finalizers"] = [f for f in ns["spec"]["finalizers"] if f != FINALIZER]
        log.info("namespace %s is empty; finalizing it", name)
        with contextlib.suppress(NotFound):
            await self.client.request("PUT", self.client.url(NAMESPACES, "", name, "finalize"), body=ns)

    @staticmethod
    def _content_kinds(kinds: Iterable[ResourceInfo]) -> list[ResourceInfo]:
        return [k for k in kinds if k.namespaced and "list" in k.verbs and "delete" in k.verbs]

    async def delete_content(self, namespace: str) -> Remaining:
        """Delete what is left of every kind; report what still exists after this pass."""
        if not self._fixed:
            try:
                self.kinds = self._content_kinds((await served(self.client)).preferred())
            except ApiError as exc:
                log.warning("namespace controller: discovery failed (%s); using the kinds it knew", exc)
        results = await asyncio.gather(*(self._delete_kind(info, namespace) for info in self.kinds),
                                       return_exceptions=True)
        rem = Remaining({}, {}, [])
        for info, result in zip(self.kinds, results):
            if isinstance(result, BaseException):
                if isinstance(result, asyncio.CancelledError):
                    raise result
                rem.failures.append(f"{info.group_resource}: {result}")
                continue
            left, fins, found = result
            rem.found += found
            if left:
                rem.counts[info.group_resource] = left
            for f, n in fins.items():
                rem.finalizers[f] = rem.finalizers.get(f, 0) + n
        return rem

    async def _delete_kind(self, info: ResourceInfo, namespace: str) -> tuple[int, dict[str, int], int]:
        listed = await self.client.list(info, namespace)
        outcomes = await asyncio.gather(*(self._delete_one(info, namespace, obj) for obj in listed.items))
        left = 0
        fins: dict[str, int] = {}
        for obj in outcomes:
            if obj is None:
                continue
            left += 1
            for f in obj["metadata"].get("finalizers") or []:
                fins[f] = fins.get(f, 0) + 1
        return left, fins, len(listed.items)

    async def _delete_one(self, info: ResourceInfo, namespace: str, obj: Obj) -> Obj | None:
        """Delete one object unless it is already going; its state if it stays, None if gone."""
        md = obj["metadata"]
        if md.get("deletionTimestamp"):
            return obj
        async with self._slots:
            try:
                # Background: dependents elsewhere in the namespace are deleted here anyway.
                after = await self.client.delete(info, md["name"], namespace, uid=md.get("uid", ""),
                                                 propagation_policy="Background")
            except NotFound:
                return None
            except Conflict:
                return obj  # raced with a writer: count it, the next pass tries again
        # A DELETE answers with the object's last state; only one marked for deletion stays.
        if after.get("kind") == "Status" or not (after.get("metadata") or {}).get("deletionTimestamp"):
            return None
        return after

    async def _set_conditions(self, ns: Obj, rem: Remaining) -> None:
        status = ns.setdefault("status", {})
        old = {c["type"]: c for c in status.get("conditions") or []}
        new = []
        changed = False
        for c in conditions(rem):
            prev = old.pop(c["type"], None)
            if prev and all(prev.get(k) == c[k] for k in ("status", "reason", "message")):
                new.append(prev)
                continue
            changed = True
            new.append({**c, "lastTransitionTime": _now() if not prev or prev.get("status") != c["status"]
                        else prev.get("lastTransitionTime", _now())})
        if not changed:
            return
        status["conditions"] = new + list(old.values())
        status["phase"] = "Terminating"
        try:
            updated = await self.client.update_status(NAMESPACES, ns)
            ns["metadata"]["resourceVersion"] = updated["metadata"]["resourceVersion"]
        except (Conflict, NotFound):
            pass  # conditions are informational; the next pass writes them again
        except ApiError as exc:
            log.debug("namespace %s conditions: %s", ns["metadata"]["name"], exc)


async def run_namespace_controller(api_url: str, config: NamespaceConfig | None = None) -> NamespaceController:
    """Start the controller against an API server; `await controller.stop()` to end it."""
    controller = NamespaceController(ApiClient(api_url, user_agent="pyctl-namespace-controller"), config,
                                     owns_client=True)
    await controller.start()
    return controller
