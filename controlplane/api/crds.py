"""CustomResourceDefinitions, as each API server handles them: serving, status and cleanup.

Every API server runs one `CrdController`, fed by its own watch cache (which holds every CRD),
level-triggered: on start and on any change of any CRD it recomputes everything from the cache.

* **Names and conditions**: status.acceptedNames and the NamesAccepted/Established conditions,
  as kube's naming and establishing controllers set them (resources/custom/names.py decides;
  the same answer on every API server, so concurrent writers agree). Written through /status
  only when they differ; a lost compare-and-swap is retried by the next event.
* **Serving**: a CustomKind per served version of each Established CRD is in this process's
  registry (routing, discovery, OpenAPI follow at once); a CRD gone or no longer Established
  is unregistered. Built again only when the CRD changes (its schema is compiled once).
* **Cleanup**: a CRD being deleted (marked Terminating with the
  `customresourcecleanup.apiextensions.k8s.io` finalizer by its strategy) has all its objects
  deleted; once none is left, the finalizer goes and the CRD with it. Restarted from scratch
  after a crash: it is the same work whichever API server does it, and deleting twice is a 404.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from ..machinery import patchmeta
from ..resources import registry
from ..resources.custom.kind import CustomKind
from ..resources.custom.names import Verdict, decide_all
from ..resources.info import ResourceInfo
from ..resources.kinds.crd import CLEANUP_FINALIZER, CUSTOM_RESOURCE_DEFINITION, is_true, set_condition
from . import errors
from .options import WriteOptions
from .storage import ObjectStore, stored_resource

log = logging.getLogger(__name__)

CRD = CUSTOM_RESOURCE_DEFINITION.info
CLEANUP_POLL = 0.5  # seconds between looks at what is left of a CRD being deleted


def _options() -> WriteOptions:
    return WriteOptions(field_manager="pyctl-apiextensions")


def _name(crd: dict[str, Any]) -> str:
    return str((crd.get("metadata") or {}).get("name", ""))


def _with_verdict(crd: dict[str, Any], verdict: Verdict) -> dict[str, Any]:
    """The CRD's status as the verdict has it (a copy; the cached object is never changed)."""
    new = {**crd, "status": dict(crd.get("status") or {})}
    new["status"]["conditions"] = [dict(c) for c in new["status"].get("conditions") or []]
    new["status"]["acceptedNames"] = verdict.names
    set_condition(new, "NamesAccepted", "True" if verdict.accepted else "False", verdict.reason, verdict.message)
    if not is_true(crd, "Established"):
        if verdict.accepted:
            set_condition(new, "Established", "True", "InitialNamesAccepted", "the initial names have been accepted")
        else:
            set_condition(new, "Established", "False", "NotAccepted", "not all names are accepted")
    return new


def _status_view(crd: dict[str, Any]) -> Any:
    """What the verdict decides, without the times: equal means nothing to write."""
    status = crd.get("status") or {}
    conds = sorted((c.get("type"), c.get("status"), c.get("reason"), c.get("message"))
                   for c in status.get("conditions") or [] if c.get("type") in ("NamesAccepted", "Established"))
    return status.get("acceptedNames"), conds


class CrdController:
    def __init__(self, objects: ObjectStore) -> None:
        self.objects = objects
        self.cache = objects.cache
        self._served: dict[tuple[str, str, str], tuple[str, CustomKind]] = {}  # path -> (crd rv, kind)
        self._cleanups: dict[str, asyncio.Task] = {}
        self._task: asyncio.Task | None = None
        self._kick = asyncio.Event()
        # settled()/wait_settled(): whether serving reflects every CRD event the cache delivered
        self._sub: Any = None
        self._busy = True
        self._pulse = asyncio.Event()  # set (and replaced) after each sync

    async def start(self) -> None:
        self._sync_serving()  # serve what is Established before the first request
        self._task = asyncio.create_task(self._run(), name="crd-controller")

    async def stop(self) -> None:
        tasks = [t for t in (self._task, *self._cleanups.values()) if t is not None]
        for t in tasks:
            t.cancel()
        for t in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t
        for _, kind in self._served.values():
            _unserve(kind)
        self._served.clear()

    async def _run(self) -> None:
        resource = stored_resource(CRD)
        while True:
            sub, _ = self.cache.subscribe(resource, "", None)
            self._sub = sub
            try:
                while True:
                    self._busy = True
                    try:
                        await self._sync()
                    except Exception:  # noqa: BLE001  (keep serving; the next event retries)
                        log.exception("syncing CustomResourceDefinitions")
                    self._busy = False
                    self._pulse.set()
                    self._pulse = asyncio.Event()
                    event = await sub.queue.get()
                    self._busy = True
                    while event is not None and not sub.queue.empty():
                        event = sub.queue.get_nowait()  # one sync for a burst
                    if event is None:
                        break  # the cache relisted or cut us off: subscribe again
            finally:
                self.cache.unsubscribe(sub)

    def settled(self) -> bool:
        """Whether the kinds served reflect every CRD change the watch cache has seen."""
        return not self._busy and (self._sub is None or self._sub.queue.empty())

    async def wait_settled(self, timeout: float) -> bool:
        """settled() within `timeout` seconds (with several API workers, a request waits for the
        CRD a client saw Established through another worker to be served here too)."""
        loop = asyncio.get_running_loop()
        end = loop.time() + timeout
        while not self.settled():
            left = end - loop.time()
            if left <= 0:
                return False
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._pulse.wait(), min(left, 0.05))
        return True

    def _crds(self) -> list[dict[str, Any]]:
        return [e.obj for e in self.cache.list(stored_resource(CRD))]

    async def _sync(self) -> None:
        crds = self._crds()
        builtin = [k.info for k in registry.REGISTRY.kinds() if not k.info.custom]
        verdicts = decide_all([c for c in crds if not (c.get("metadata") or {}).get("deletionTimestamp")],
                              builtin)
        for crd in crds:
            verdict = verdicts.get(_name(crd))
            if verdict is not None:
                wanted = _with_verdict(crd, verdict)
                if _status_view(wanted) != _status_view(crd):
                    await self._write_status(_name(crd), verdict)
        self._sync_serving()
        for crd in crds:
            md = crd.get("metadata") or {}
            if md.get("deletionTimestamp") and CLEANUP_FINALIZER in (md.get("finalizers") or []):
                name = _name(crd)
                if name not in self._cleanups or self._cleanups[name].done():
                    self._cleanups[name] = asyncio.create_task(self._cleanup(name), name=f"crd-cleanup-{name}")

    async def _write_status(self, name: str, verdict: Verdict) -> None:
        def mutate(crd: dict[str, Any]) -> dict[str, Any]:
            return _with_verdict(crd, verdict)
        try:
            await self.objects.guaranteed_update(CRD, "", name, mutate, _options(), subresource="status")
        except errors.ApiError as exc:
            if exc.code not in (404, 409):
                raise

    # -- serving ---------------------------------------------------------------------------

    def _sync_serving(self) -> None:
        wanted: dict[tuple[str, str, str], tuple[str, dict[str, Any], dict[str, Any]]] = {}
        for crd in self._crds():
            if not is_true(crd, "Established"):
                continue
            rv = str((crd.get("metadata") or {}).get("resourceVersion", ""))
            spec = crd.get("spec") or {}
            plural = ((crd.get("status") or {}).get("acceptedNames") or {}).get("plural") or \
                (spec.get("names") or {}).get("plural", "")
            for version in spec.get("versions") or []:
                if isinstance(version, dict) and version.get("served") is True:
                    wanted[(spec.get("group", ""), version.get("name", ""), plural)] = (rv, crd, version)
        for path, (rv, kind) in list(self._served.items()):
            if path not in wanted:
                _unserve(kind)
                del self._served[path]
        for path, (rv, crd, version) in wanted.items():
            current = self._served.get(path)
            if current is not None and current[0] == rv:
                continue
            try:
                kind = CustomKind(crd, version)
            except Exception:  # noqa: BLE001  (a CRD stored before a rule tightened: skip it)
                log.exception("cannot serve %s version %s", _name(crd), version.get("name"))
                continue
            kind.terminating = bool((crd.get("metadata") or {}).get("deletionTimestamp"))
            registry.REGISTRY.register(kind)  # in place of the kind it had at this path
            # Server-side apply merges its lists by the schema's list types and map keys.
            patchmeta.set_custom_types(kind.api_version, kind.kind,
                                       patchmeta.custom_types(kind.api_version, kind.kind, kind.raw_schema))
            self._served[path] = (rv, kind)

    # -- cleanup ---------------------------------------------------------------------------

    async def _cleanup(self, name: str) -> None:
        """Delete every object of a CRD being deleted, then let the CRD go."""
        while True:
            entry = self.cache.get(self.objects.key(CRD, "", name))
            if entry is None or CLEANUP_FINALIZER not in (entry.obj.get("metadata") or {}).get("finalizers", []):
                return
            info = _served_info(entry.obj)
            left = self.cache.list(stored_resource(info)) if info is not None else []
            if info is None or not left:  # (never served: nothing of it can have been stored)
                await self._finish(name)
                return
            await self._set_terminating(name, "InstanceDeletionInProgress",
                                        "CustomResource deletion is in progress")
            for e in left:
                if not (e.obj.get("metadata") or {}).get("deletionTimestamp"):
                    with contextlib.suppress(errors.ApiError):
                        await self.objects.delete(info, e.namespace, e.name, {}, WriteOptions())
            await asyncio.sleep(CLEANUP_POLL)

    async def _set_terminating(self, name: str, reason: str, message: str) -> None:
        def mutate(crd: dict[str, Any]) -> dict[str, Any]:
            set_condition(crd, "Terminating", "True", reason, message)
            return crd
        with contextlib.suppress(errors.ApiError):
            await self.objects.guaranteed_update(CRD, "", name, mutate, _options(), subresource="status")

    async def _finish(self, name: str) -> None:
        def mutate(crd: dict[str, Any]) -> dict[str, Any]:
            md = crd.setdefault("metadata", {})
            md["finalizers"] = [f for f in md.get("finalizers") or [] if f != CLEANUP_FINALIZER]
            if not md["finalizers"]:
                del md["finalizers"]
            return crd
        with contextlib.suppress(errors.ApiError):
            await self.objects.guaranteed_update(CRD, "", name, mutate, _options())


def _unserve(kind: CustomKind) -> None:
    registry.REGISTRY.unregister(kind.info)
    patchmeta.set_custom_types(kind.api_version, kind.kind, None)


def _served_info(crd: dict[str, Any]) -> ResourceInfo | None:
    """A served version of the CRD (any: they share their objects), None if none is served."""
    spec = crd.get("spec") or {}
    plural = ((crd.get("status") or {}).get("acceptedNames") or {}).get("plural") or \
        (spec.get("names") or {}).get("plural")
    for kind in registry.REGISTRY.kinds():
        if kind.info.custom and kind.info.group == spec.get("group") and kind.info.resource == plural:
            return kind.info
    return None
