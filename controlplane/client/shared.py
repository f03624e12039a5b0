"""Shared informers: one watch and one cache per kind per process, however many components read it.

The scheduler, several controllers and the gateway all want every pod. With an Informer each,
a control plane in one process decoded every pod event once per component and kept a decoded
copy of every pod per component. `SharedInformer` has the Informer's interface, but every
SharedInformer of the same API server (URL, headers, credentials), kind, namespace and
selectors on one event loop is served by one underlying Informer (kube's
SharedInformerFactory idea). Reference-counted: the first `start()` opens the watch, the last
`stop()` ends it. Each user keeps its own handlers and resync period; `stop()` removes exactly
that user's handlers, and a user that starts while the cache is already synced gets every
cached object replayed to its on_add, as if it had listed itself.

Cached objects are shared by every user: read them, never mutate them (copy first). They come
without `metadata.managedFields`, as in kube-scheduler's and kube-controller-manager's informers:
field ownership is a third to two fifths of a decoded pod or Event, and no component reads it;
an update sent without it keeps the stored ownership (the API server takes the live object's).
Their short strings are interned (cached_form).

`where` narrows one user's view with a predicate instead of a field selector, so that view
needs no watch of its own: objects entering the predicate are reported as added, objects
leaving it as deleted (with the new state), as the API server does for a field selector.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import weakref
from dataclasses import dataclass
from typing import Any, Callable

from ..resources.registry import ResourceInfo
from .informer import Handlers, Informer, Obj
from .rest import ApiClient

USER_AGENT = "pyctl-shared-informer"

Key = tuple[Any, ...]


@dataclass(eq=False)
class _Watch:
    """One underlying Informer with its own client (no component's client outlives its
    component), and the number of started SharedInformers using it."""

    key: Key
    informer: Informer
    client: ApiClient
    users: int = 0


# Per event loop, so control planes in separate loops (tests) never share a cache; per URL,
# credentials and headers, so separate API servers (or identities) in one loop never do.
_WATCHES: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[Key, _Watch]]" = weakref.WeakKeyDictionary()


def _watches() -> dict[Key, _Watch]:
    loop = asyncio.get_running_loop()
    found = _WATCHES.get(loop)
    if found is None:
        found = _WATCHES[loop] = {}
    return found


def _key(client: ApiClient, info: ResourceInfo, namespace: str, label_selector: str, field_selector: str) -> Key:
    cfg = client.config
    return (cfg.base_url, tuple(sorted(cfg.headers.items())), cfg.credentials,
            info.group, info.version, info.resource, namespace, label_selector, field_selector)


def _acquire(client: ApiClient, info: ResourceInfo, namespace: str, label_selector: str,
             field_selector: str) -> _Watch:
    watches = _watches()
    key = _key(client, info, namespace, label_selector, field_selector)
    watch = watches.get(key)
    if watch is None:
        cfg = client.config
        own = ApiClient(cfg.base_url, user_agent=USER_AGENT, headers=cfg.headers, timeout=cfg.timeout,
                        credentials=cfg.credentials)
        informer = Informer(own, info, namespace, label_selector=label_selector, field_selector=field_selector,
                            transform=cached_form)
        watch = watches[key] = _Watch(key, informer, own)
        informer.start()
    watch.users += 1
    return watch


def cached_form(obj: Obj) -> Obj:
    """`obj` (freshly decoded, not yet shared) as the shared cache keeps it: without
    metadata.managedFields, and with its short strings interned. The same names, namespaces,
    owner and node names, images, reasons and timestamps recur across thousands of objects;
    held once each, a cached pod or Event takes about 30% less memory, for ~20 µs per pod."""
    md = obj.get("metadata")
    if isinstance(md, dict):
        md.pop("managedFields", None)
    _intern_strings(obj)
    return obj


def _intern_strings(node: dict | list, intern: Callable[[str], str] = sys.intern) -> None:
    stack: list[dict | list] = [node]
    while stack:
        item = stack.pop()
        pairs = item.items() if type(item) is dict else enumerate(item)
        for k, v in pairs:
            t = type(v)
            if t is str:
                if len(v) <= INTERN_MAX:
                    item[k] = intern(v)  # type: ignore[index]  # same keys: no resize while iterating
            elif t is dict or t is list:
                stack.append(v)


INTERN_MAX = 64
"""Longer strings (annotations' JSON, messages) are rarely the same twice."""


async def _release(watch: _Watch) -> None:
    watch.users -= 1
    if watch.users > 0:
        return
    watches = _watches()
    if watches.get(watch.key) is watch:
        del watches[watch.key]  # before awaiting: a user starting meanwhile opens a fresh watch
    await watch.informer.stop()
    await watch.client.close()


def shared_watches() -> list[tuple[str, str, int]]:
    """(API server URL, resource, users) of every shared watch open on the running loop."""
    return [(w.key[0], w.key[5], w.users) for w in _watches().values()]


class SharedInformer:
    """An Informer's interface over the process's shared watch of the same kind and selectors."""

    def __init__(self, client: ApiClient, info: ResourceInfo, namespace: str = "", *,
                 label_selector: str = "", field_selector: str = "", resync_period: float = 0.0,
                 where: Callable[[Obj], bool] | None = None) -> None:
        self.info = info
        self.resync_period = resync_period
        self._client = client
        self._spec = (namespace, label_selector, field_selector)
        self._where = where
        self._wanted: list[tuple[Any, Any, Any]] = []  # this user's handlers, as they are registered
        self._registered: list[Handlers] = []  # the same, registered on the shared informer while started
        self._watch: _Watch | None = None  # while started
        self._informer: Informer | None = None  # the cache reads come from (kept after stop, as Informer does)
        self._resync: asyncio.Task[None] | None = None
        self._started = asyncio.Event()

    def add_handlers(self, on_add=None, on_update=None, on_delete=None) -> None:
        """Register handlers; objects already cached are replayed to on_add."""
        handlers = (on_add, on_update, on_delete) if self._where is None else \
            _narrowed(self._where, on_add, on_update, on_delete)
        self._wanted.append(handlers)
        if self._watch is not None:
            self._registered.append(self._watch.informer.add_handlers(*handlers))

    # -- reads (never copy: callers must not mutate cached objects) ----------------------------

    def _visible(self, obj: Obj | None) -> bool:
        return obj is not None and (self._where is None or self._where(obj))

    def get(self, key: str) -> Obj | None:
        obj = self._informer.get(key) if self._informer is not None else None
        return obj if self._visible(obj) else None

    def keys(self) -> list[str]:
        if self._informer is None:
            return []
        if self._where is None:
            return self._informer.keys()
        return [k for k in self._informer.keys() if self._visible(self._informer.get(k))]

    def list(self) -> list[Obj]:  # defined last among the reads: it shadows the builtin
        if self._informer is None:
            return []
        objs = self._informer.list()
        return objs if self._where is None else [o for o in objs if self._where(o)]

    @property
    def resource_version(self) -> str:
        return self._informer.resource_version if self._informer is not None else ""

    @property
    def synced(self) -> bool:
        return self._informer is not None and self._informer.synced

    async def wait_synced(self, timeout: float | None = None) -> None:
        async def synced() -> None:
            await self._started.wait()
            assert self._informer is not None
            await self._informer.wait_synced()
        await asyncio.wait_for(synced(), timeout)

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> "SharedInformer":
        if self._watch is not None:
            return self
        watch = self._watch = _acquire(self._client, self.info, *self._spec)
        self._informer = watch.informer
        self._registered = [watch.informer.add_handlers(*h) for h in self._wanted]
        if self.resync_period > 0:
            self._resync = asyncio.create_task(watch.informer.resync_every(self.resync_period, self._registered),
                                               name=f"resync-{self.info.resource}")
        self._started.set()
        return self

    async def stop(self) -> None:
        watch, self._watch = self._watch, None
        if watch is None:
            return
        for h in self._registered:
            watch.informer.remove_handlers(h)
        self._registered = []
        if self._resync is not None:
            self._resync.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._resync
            self._resync = None
        await _release(watch)


def _narrowed(where: Callable[[Obj], bool], on_add, on_update, on_delete) -> tuple[Any, Any, Any]:
    """Handlers that see only objects matching `where`, with the API server's field-selector
    semantics: entering is an add, leaving is a delete of the new state."""

    def added(obj: Obj) -> Any:
        if on_add is not None and where(obj):
            return on_add(obj)

    def updated(old: Obj, new: Obj) -> Any:
        was, now = where(old), where(new)
        if was and now:
            return on_update(old, new) if on_update is not None else None
        if now:
            return on_add(new) if on_add is not None else None
        if was and on_delete is not None:
            return on_delete(new)

    def deleted(obj: Obj) -> Any:
        if on_delete is not None and where(obj):
            return on_delete(obj)

    return added, updated, deleted
