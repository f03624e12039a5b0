"""Informer: a local cache of one kind kept current by a Watcher, with add/update/delete handlers.

Handlers should only record *that* something changed (enqueue a key, poke a session);
they run in the informer's task, in event order, after the cache reflects the event.
A resync calls on_update(obj, obj) for every cached object now and then, so a reconciler
that missed nothing still re-checks everything (level-triggered).

Handlers can be removed again (`remove_handlers`): shared.py serves several components from
one Informer and takes a stopped component's handlers out without ending the watch.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
from dataclasses import dataclass
from typing import Any, Callable, Sequence

from ..resources.registry import ResourceInfo
from .rest import ApiClient
from .watch import Watcher
from ..machinery.types import Obj

log = logging.getLogger(__name__)



@dataclass(eq=False)  # identity: remove_handlers takes out exactly the one it is given
class Handlers:
    on_add: Callable[[Obj], Any] | None = None
    on_update: Callable[[Obj, Obj], Any] | None = None  # (old, new)
    on_delete: Callable[[Obj], Any] | None = None
    removed: bool = False  # set by remove_handlers: an event already being dispatched skips it


class Informer:
    def __init__(self, client: ApiClient, info: ResourceInfo, namespace: str = "", *,
                 label_selector: str = "", field_selector: str = "", resync_period: float = 0.0,
                 transform: Callable[[Obj], Obj] | None = None) -> None:
        self.info = info
        self.resync_period = resync_period
        self._watcher = Watcher(client, info, namespace, label_selector=label_selector,
                                field_selector=field_selector, transform=transform)
        self._handlers: list[Handlers] = []
        self._tasks: list[asyncio.Task[None]] = []

    def add_handlers(self, on_add=None, on_update=None, on_delete=None) -> Handlers:
        """Register handlers; objects already cached are replayed to on_add."""
        h = Handlers(on_add, on_update, on_delete)
        self._handlers.append(h)
        if on_add is not None and self._watcher.synced.is_set():
            for obj in list(self._watcher.objects.values()):
                try:
                    on_add(obj)
                except Exception:  # as in _call: it must not fail the caller (a component's start)
                    log.exception("%s informer: on_add handler failed on replay", self.info.resource)
        return h

    def remove_handlers(self, h: Handlers) -> None:
        """No more calls to `h` (the ones add_handlers returned), from this moment on."""
        h.removed = True
        with contextlib.suppress(ValueError):
            self._handlers.remove(h)

    # -- reads (never copy: callers must not mutate cached objects) ----------------------------

    def get(self, key: str) -> Obj | None:
        """The cached object by `namespace/name` (or `name`)."""
        return self._watcher.objects.get(key)

    def keys(self) -> list[str]:
        return list(self._watcher.objects)

    def list(self) -> list[Obj]:  # defined last: it shadows the builtin in this class body
        return [*self._watcher.objects.values()]

    @property
    def resource_version(self) -> str:
        return self._watcher.resource_version

    @property
    def synced(self) -> bool:
        return self._watcher.synced.is_set()

    async def wait_synced(self, timeout: float | None = None) -> None:
        await asyncio.wait_for(self._watcher.synced.wait(), timeout)

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> "Informer":
        self._tasks.append(asyncio.create_task(self._run(), name=f"informer-{self.info.resource}"))
        if self.resync_period > 0:
            self._tasks.append(asyncio.create_task(self._resync(), name=f"resync-{self.info.resource}"))
        return self

    async def stop(self) -> None:
        for t in self._tasks:
            t.cancel()
        for t in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await t
        self._tasks.clear()
        await self._watcher.aclose()

    async def _run(self) -> None:
        async for ev in self._watcher:
            if ev.type == "DELETED":
                await self._call("on_delete", ev.object)
            elif ev.old is None:
                await self._call("on_add", ev.object)
            else:
                await self._call("on_update", ev.old, ev.object)

    async def _resync(self) -> None:
        await self.resync_every(self.resync_period, self._handlers)

    async def resync_every(self, period: float, handlers: Sequence[Handlers]) -> None:
        """Forever: every `period` seconds, on_update(obj, obj) for every cached object, to
        `handlers` only (each user of a shared informer keeps its own period)."""
        await self._watcher.synced.wait()
        while True:
            await asyncio.sleep(period)
            for obj in list(self._watcher.objects.values()):
                await self._call("on_update", obj, obj, handlers=handlers)

    async def _call(self, which: str, *args: Obj, handlers: Sequence[Handlers] | None = None) -> None:
        # A snapshot: handlers added while an awaited handler runs start with the next event
        # (their on_add replay already showed them this state).
        for h in tuple(self._handlers if handlers is None else handlers):
            fn = getattr(h, which)
            if fn is None or h.removed:
                continue
            try:
                result = fn(*args)
                if inspect.isawaitable(result):
                    await result
            except Exception:  # one broken handler must not stop the cache
                log.exception("%s informer: %s handler failed", self.info.resource, which)

