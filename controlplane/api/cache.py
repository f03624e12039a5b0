"""The watch cache: one etcd watch feeds an in-memory copy of every object.

GET, LIST and WATCH are served from here, as kube-apiserver's cacher does: etcd sees one
watch per API server instead of one read per request. Each object and each event is
encoded to JSON once, however many watchers receive it, and an object this API server
wrote is taken as written rather than decoded back from the watch (expect). Only the most
recently written or read entries keep their decoded object too (Warm): the others, most
of the cache and all but the newest of its history, are their JSON alone, which is what
lists and watches send anyway. A bounded history of recent events lets watches resume
from a resourceVersion; older ones are served from etcd's own history by the watch
handler, or get 410 Expired once etcd has compacted it.

The cache's watch never ends while the server runs: a broken or silent etcd watch (the store
detects both) is re-established from the last revision seen, with a relist when etcd has
compacted past it. Nothing waits on the cache without a bound: a write that etcd committed
is answered from what was written even when the cache is slow to see it.
"""

from __future__ import annotations

import asyncio
import builtins
import heapq
import itertools
import logging
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Callable

from ..machinery import jsonio
from ..store import Compacted, Store, StoreError, Timeout
from ..store import keys

log = logging.getLogger(__name__)

SYNC_WAIT = 3.0
"""Seconds a consistent read waits for the cache to reach etcd's revision (kube's is 3 s too)."""


class CacheBehind(Timeout):
    """The cache did not reach the revision a read needs in time (504, retry)."""

    def __init__(self, wanted: int, current: int) -> None:
        super().__init__(f"the watch cache is at revision {current}, behind etcd's {wanted}")
        self.wanted, self.current = wanted, current


WARM = 2000
"""Entries that hold their decoded object at once: the most recently written or read ones."""


def kept(encoded: bytes) -> bytes:
    """`encoded` in a buffer of its own size, for bytes held long. orjson hands back its output
    buffer over-allocated (a 3.6 KB pod held 8-32 KB), and the cache holds one per object and
    per history event: the copy costs one memcpy."""
    return bytes(memoryview(encoded))


class Warm:
    """Which entries hold their decoded object: the `size` most recently written (or decoded
    again on a read); older ones keep only their encoding. A decoded pod is 4-5 times its JSON,
    and most states are read rarely or never once written: superseded ones serve only watches
    resuming from the history, and most current ones serve only lists, which are their bytes."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._entries: deque[Entry] = deque()  # oldest first; each entry at most once

    def add(self, entry: "Entry") -> None:
        self._entries.append(entry)
        while len(self._entries) > self.size:
            self._entries.popleft().compact()

    def clear(self) -> None:
        self._entries.clear()


@dataclass(slots=True, eq=False)
class Entry:
    """One stored object as the cache holds it. `obj` must never be mutated.

    `obj` is decoded from the encoding again when the entry went cold (see Warm) and is then
    held until the entry goes cold once more: reads of it in a row get the same dict."""

    key: str
    resource: str
    namespace: str
    name: str
    _obj: dict[str, Any] | None
    rev: int
    _json: bytes | None = None
    _warm: Warm | None = None  # the cache's, for entries it holds; None: never compacted
    api_version: str = field(init=False, default="")

    def __post_init__(self) -> None:
        if self._obj is not None:
            self.api_version = self._obj.get("apiVersion") or ""

    @property
    def obj(self) -> dict[str, Any]:
        obj = self._obj
        if obj is None:
            assert self._json is not None and self._warm is not None
            obj = self._obj = jsonio.loads(self._json)
            self._warm.add(self)
        return obj

    @obj.setter
    def obj(self, value: dict[str, Any]) -> None:
        self._obj, self._json = value, None
        self.api_version = value.get("apiVersion") or ""

    def json(self) -> bytes:
        if self._json is None:
            self._json = kept(jsonio.dumps(self._obj))
        return self._json

    def compact(self) -> None:
        """Keep only the encoding (decoded again when read)."""
        if self._obj is not None:
            self.json()
            self._obj = None


@dataclass(slots=True, eq=False)
class Event:
    type: str  # ADDED, MODIFIED, DELETED
    entry: Entry
    prev: Entry | None

    @property
    def rev(self) -> int:
        return self.entry.rev

    def json(self) -> bytes:
        # Not kept: the entry's encoding is, and framing it is one copy per watcher; keeping
        # it too held every event's bytes twice.
        return b'{"type":"%s","object":%s}\n' % (self.type.encode(), self.entry.json())


def decode(key: str, value: bytes, rev: int, like: Entry | None = None, warm: Warm | None = None) -> Entry:
    return _entry(key, jsonio.loads(value), rev, like, warm)


def _entry(key: str, obj: dict[str, Any], rev: int, like: Entry | None = None, warm: Warm | None = None) -> Entry:
    """The entry for `obj` at `key`; `like` (an earlier state of the same key) lends its strings;
    `warm`: the cache that will hold it (and compact it once cold)."""
    obj.setdefault("metadata", {})["resourceVersion"] = str(rev)
    if like is not None:
        entry = Entry(like.key, like.resource, like.namespace, like.name, obj, rev, None, warm)
    else:
        resource, namespace, name = keys.split_key(key)
        entry = Entry(key, resource, namespace, name, obj, rev, None, warm)
    if warm is not None:
        warm.add(entry)
    return entry


def _by_key(entry: Entry) -> str:
    return entry.key


class TooOld(Exception):
    """The requested revision is older than the cache's history."""

    def __init__(self, oldest: int) -> None:
        super().__init__(oldest)
        self.oldest = oldest


@dataclass(eq=False)
class Subscription:
    """A watcher's queue of events for one resource (and namespace, when given)."""

    resource: str
    namespace: str
    queue: asyncio.Queue = field(default_factory=lambda: asyncio.Queue(maxsize=20000))
    closed: bool = False

    def offer(self, event: Event | None) -> None:
        if self.closed:
            return
        try:
            self.queue.put_nowait(event)
        except asyncio.QueueFull:
            # A watcher this far behind is cut off; its client re-watches from its last RV.
            self.closed = True
            self.queue = asyncio.Queue(maxsize=1)
            self.queue.put_nowait(None)


class WatchCache:
    def __init__(self, store: Store, history: int = 50000) -> None:
        self._store = store
        self._objects: dict[str, dict[str, Entry]] = {}  # resource -> key -> entry
        self._by_ns: dict[str, dict[str, dict[str, Entry]]] = {}  # resource -> namespace -> key -> entry
        # (resource, namespace or "") -> its entries in key order, until one of them changes:
        # lists (and RBAC's role bindings, per request) are served without a scan or a sort.
        self._sorted: dict[tuple[str, str], tuple[Entry, ...]] = {}
        self._history: deque[Event] = deque(maxlen=history)
        self._warm = Warm(WARM)
        self._subs: dict[str, set[Subscription]] = {}
        self._revision = 0
        self._oldest = 0  # events after this revision are all in the history
        # (revision, tie-breaker, future): a heap, so an event looks at due waiters only
        self._waiters: list[tuple[int, int, asyncio.Future]] = []
        self._waiter_seq = itertools.count()
        # key -> (value, object) of a write of this server in flight (see expect)
        self._expected: dict[str, tuple[bytes, dict[str, Any]]] = {}
        self._task: asyncio.Task | None = None
        # etcd revision reads for consistent lists: the one under way, and the one callers
        # that came meanwhile wait for (see _etcd_revision)
        self._reading: asyncio.Future[int] | None = None
        self._next_read: asyncio.Future[int] | None = None
        self.ready = asyncio.Event()
        self._watching = False  # the etcd watch is established (cleared whenever it breaks)
        self._heard = 0.0  # loop time etcd last spoke on the watch (events or progress)
        self._trouble = ""  # why the loop last failed in a way it did not expect

    # -- lifecycle --------------------------------------------------------------------

    async def start(self) -> None:
        await self._relist()
        self._task = asyncio.create_task(self._run(), name="watch-cache")

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            try:
                await self._task
            except (asyncio.CancelledError, Exception):
                pass
        for subs in self._subs.values():
            for sub in subs:
                sub.offer(None)

    async def _relist(self) -> None:
        items, rev, _ = await self._store.list(keys.ROOT)
        objects: dict[str, dict[str, Entry]] = {}
        by_ns: dict[str, dict[str, dict[str, Entry]]] = {}
        self._warm.clear()  # the old entries stay as they are: only old watch events hold them
        for kv in items:
            entry = decode(kv.key, kv.value, kv.mod_revision, warm=self._warm)
            objects.setdefault(entry.resource, {})[kv.key] = entry
            by_ns.setdefault(entry.resource, {}).setdefault(entry.namespace, {})[kv.key] = entry
        self._objects, self._by_ns, self._sorted = objects, by_ns, {}
        self._history.clear()
        self._revision = self._oldest = rev
        # Watchers cannot be told what changed across a relist: end them so they re-watch.
        for subs in self._subs.values():
            for sub in subs:
                sub.offer(None)
        self._subs = {}
        self._wake()
        self.ready.set()

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        backoff = 0.1
        while True:
            try:
                async for ev in self._store.watch("/", self._revision + 1, progress=True):
                    self._watching, self._heard, self._trouble = True, loop.time(), ""
                    if ev.type != "PROGRESS":
                        self._apply(ev)
                    backoff = 0.1
            except Compacted:
                self._watching = False
                log.warning("watch cache fell behind etcd compaction; relisting")
                await self._retry(self._relist)
            except (StoreError, OSError) as exc:
                self._watching = False
                log.warning("etcd watch interrupted (%s); resuming from %d", exc, self._revision)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 2.0)
            except Exception as exc:  # a bug must not end the cache for good: log, back off, go on
                self._watching, self._trouble = False, f"{type(exc).__name__}: {exc}"
                log.exception("watch cache: unexpected error; resuming from %d", self._revision)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 2.0)

    async def _retry(self, fn: Callable) -> None:
        delay = 0.1
        while True:
            try:
                return await fn()
            except StoreError as exc:
                log.warning("etcd unavailable: %s", exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)

    def _apply(self, ev) -> None:
        self._revision = ev.revision
        if ev.key.startswith(keys.ROOT):
            resource = keys.resource_of(ev.key)
            objects = self._objects.setdefault(resource, {})
            prev = objects.get(ev.key)
            if ev.type == "PUT":
                expected = self._expected.get(ev.key) if self._expected else None
                if expected is not None and expected[0] == ev.value:  # the very bytes: no decoding
                    del self._expected[ev.key]
                    entry = _entry(ev.key, expected[1], ev.revision, prev, self._warm)
                else:
                    entry = decode(ev.key, ev.value, ev.revision, prev, self._warm)
                objects[ev.key] = entry
                self._by_ns.setdefault(resource, {}).setdefault(entry.namespace, {})[ev.key] = entry
                self._changed(resource, entry.namespace)
                event = Event("ADDED" if prev is None else "MODIFIED", entry, prev)
            else:
                objects.pop(ev.key, None)
                if prev is not None:
                    in_ns = self._by_ns[resource][prev.namespace]
                    in_ns.pop(ev.key, None)
                    if not in_ns:  # namespaces come and go: none is kept once empty
                        del self._by_ns[resource][prev.namespace]
                    self._changed(resource, prev.namespace)
                if not ev.value:
                    return
                event = Event("DELETED", decode(ev.key, ev.value, ev.revision, prev, self._warm), prev)
            self._history.append(event)
            if len(self._history) == self._history.maxlen:
                self._oldest = self._history[0].rev - 1
            for sub in self._subs.get(resource, ()):
                if not sub.namespace or sub.namespace == event.entry.namespace:
                    sub.offer(event)
        self._wake()

    def _changed(self, resource: str, namespace: str) -> None:
        sorted_ = self._sorted
        if sorted_:
            sorted_.pop((resource, namespace), None)
            sorted_.pop((resource, ""), None)

    def expect(self, key: str, value: bytes, obj: dict[str, Any]) -> None:
        """This server is about to store `value`, the encoding of `obj`, at `key`.

        When the watch brings a PUT of exactly these bytes at `key`, the cache takes `obj`
        in place of decoding them: the same object, by construction, whoever wrote it.
        `obj` is then shared by every reader: the caller must change nothing it holds,
        and call forget() once its write is over, whatever the outcome."""
        self._expected[key] = (value, obj)

    def forget(self, key: str, value: bytes) -> None:
        """Drop expect(key, value) unless it has been taken (or replaced by a later write)."""
        expected = self._expected.get(key)
        if expected is not None and expected[0] is value:
            del self._expected[key]

    # -- reads --------------------------------------------------------------------------

    @property
    def revision(self) -> int:
        return self._revision

    def _wake(self) -> None:
        waiters, revision = self._waiters, self._revision
        while waiters and waiters[0][0] <= revision:
            fut = heapq.heappop(waiters)[2]
            if not fut.done():  # a waiter that timed out is dropped here
                fut.set_result(None)

    async def wait_for(self, rev: int, timeout: float) -> bool:
        """Whether the cache has seen revision `rev` within `timeout` seconds (read-your-writes)."""
        if self._revision >= rev:
            return True
        fut = asyncio.get_running_loop().create_future()
        heapq.heappush(self._waiters, (rev, next(self._waiter_seq), fut))
        try:
            await asyncio.wait_for(fut, timeout)
        except asyncio.TimeoutError:
            return False
        return True

    async def sync(self, timeout: float = SYNC_WAIT) -> None:
        """Catch up with etcd's current revision: a consistent read without a range scan.

        Raises the store's Unavailable/Timeout when etcd does not answer, CacheBehind when the
        cache does not catch up within `timeout`."""
        rev = await self._etcd_revision()
        if not await self.wait_for(rev, timeout):
            raise CacheBehind(rev, self._revision)

    async def _etcd_revision(self) -> int:
        """etcd's current revision, read after this call began. Reads under way began earlier
        and may miss a write the caller saw, so calls that come meanwhile share the next read
        instead: many lists at once cost one etcd round trip each "wave", not one each."""
        if self._next_read is None:
            self._next_read = asyncio.ensure_future(self._read_after(self._reading))
        return await asyncio.shield(self._next_read)

    async def _read_after(self, before: asyncio.Future[int] | None) -> int:
        if before is not None:
            await asyncio.wait([before])  # its outcome is its own callers'
        this = self._next_read
        self._reading, self._next_read = this, None  # callers from now on share the next read
        try:
            return await self._store.revision()
        finally:
            if self._reading is this:
                self._reading = None

    # -- health -------------------------------------------------------------------------

    def watching(self, within: float) -> bool:
        """Whether the etcd watch is up and etcd spoke on it in the last `within` seconds."""
        return self._watching and asyncio.get_running_loop().time() - self._heard <= within

    def running(self) -> str:
        """'' while the cache's loop runs as it should, else what is wrong with it."""
        if self._task is None:
            return "the watch cache was never started"
        if self._task.done():
            return "the watch cache's loop has ended"
        return self._trouble

    def get(self, key: str) -> Entry | None:
        return self._objects.get(keys.resource_of(key), {}).get(key)

    def list(self, resource: str, namespace: str = "") -> tuple[Entry, ...]:
        """The entries of `resource` (in `namespace`, if given) in key order, as etcd lists them."""
        out = self._sorted.get((resource, namespace))
        if out is None:
            entries = (self._by_ns.get(resource, {}).get(namespace, {}) if namespace else
                       self._objects.get(resource, {}))
            out = tuple(sorted(entries.values(), key=_by_key))
            if out:  # an empty list costs nothing to make again, and any name may be asked for
                self._sorted[resource, namespace] = out
        return out

    def count(self, resource: str) -> int:
        return len(self._objects.get(resource, {}))

    def sizes(self) -> tuple[dict[str, int], dict[str, int], int]:
        """Objects and open watches per resource, and events in the history (for /metrics)."""
        return ({r: len(objs) for r, objs in self._objects.items()},
                {r: len(subs) for r, subs in self._subs.items()}, len(self._history))

    # -- watch ------------------------------------------------------------------------

    def subscribe(self, resource: str, namespace: str,
                  since: int | None) -> tuple[Subscription, builtins.list[Event]]:
        """A subscription plus the events it must first replay.

        since=None: no replay (the caller sends the current state itself). Otherwise every
        event after revision `since`; raises TooOld when the history does not reach back."""
        replay: builtins.list[Event] = []  # `list` is a method here
        if since is not None:
            if since < self._oldest:
                raise TooOld(self._oldest)
            for ev in self._history:  # most watches resume near the tail
                if ev.rev > since and ev.entry.resource == resource and (
                        not namespace or ev.entry.namespace == namespace):
                    replay.append(ev)
        sub = Subscription(resource, namespace)
        self._subs.setdefault(resource, set()).add(sub)
        return sub, replay

    def unsubscribe(self, sub: Subscription) -> None:
        self._subs.get(sub.resource, set()).discard(sub)
        sub.closed = True
