"""Watch streams: chunked JSON events from the watch cache (or etcd's history).

Semantics (kube's, mapped onto etcd as kine does): resourceVersion X streams every change
after X; no RV or "0" first sends the current state as ADDED; sendInitialEvents=true
(kubectl's WatchList) ends the initial state with a BOOKMARK annotated
`k8s.io/initial-events-end`; a compacted X is 410 Expired.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

from aiohttp import web

from ..machinery import jsonio
from ..resources import registry, tables
from ..resources.versions import converted
from ..store import Compacted, StoreError, keys
from . import errors, request as req
from .cache import SYNC_WAIT, Entry, Event, TooOld, WatchCache, decode
from .paths import Target
from .responses import as_version, object_json
from .storage import ObjectStore, stored_resource

BOOKMARK_EVERY = 10.0  # seconds between bookmarks when asked for
DEFAULT_TIMEOUT = 1800
WRITE_BATCH = 100  # most events one write of a watch stream carries

# Tasks serving watches: ended on shutdown, since an idle stream never notices on its own.
_active: set[asyncio.Task] = set()


def close_all() -> None:
    for task in list(_active):
        task.cancel()


def _tracked(fn):
    async def wrapper(*args, **kwargs):
        task = asyncio.current_task()
        _active.add(task)
        try:
            return await fn(*args, **kwargs)
        finally:
            _active.discard(task)
    return wrapper


def _bookmark(target: Target, rev: int, initial_end: bool = False) -> bytes:
    md: dict[str, Any] = {"resourceVersion": str(rev)}
    if initial_end:
        md["annotations"] = {"k8s.io/initial-events-end": "true"}
    obj = {"kind": target.info.kind, "apiVersion": target.info.api_version, "metadata": md}
    return jsonio.dumps({"type": "BOOKMARK", "object": obj}) + b"\n"


def _error_event(err: errors.ApiError) -> bytes:
    return jsonio.dumps({"type": "ERROR", "object": err.status()}) + b"\n"


class _Encoder:
    """Encodes events as plain objects (shared bytes) or as one-row Tables."""

    def __init__(self, request: web.Request, target: Target) -> None:
        self.table_version = req.table_version(request)
        self.include = req.include_object(request)
        self.printer = registry.kind_of(target.info).printer
        self.api_version = target.info.api_version
        self.header_sent = False
        self.view = converted(registry.kind_of(target.info))  # served in a version not stored

    def encode(self, type_: str, entry: Entry, shared: Event | None) -> bytes:
        if self.view is not None and self.table_version is None:
            return jsonio.dumps({"type": type_, "object": self.view.from_storage(entry.obj)}) + b"\n"
        if self.table_version is None:
            if entry.api_version != self.api_version:  # another version of a CRD's
                return b'{"type":"%s","object":%s}\n' % (
                    type_.encode(), object_json(entry.obj, b"", self.api_version))
            if shared is not None and shared.type == type_ and shared.entry is entry:
                return shared.json()
            return b'{"type":"%s","object":%s}\n' % (type_.encode(), entry.json())
        table = tables.table(self.printer, [as_version(entry.obj, self.api_version)],
                             now=dt.datetime.now(dt.timezone.utc),
                             include_object=self.include, resource_version=str(entry.rev),
                             with_header=not self.header_sent,
                             api_version=f"meta.k8s.io/{self.table_version}")
        self.header_sent = True
        return jsonio.dumps({"type": type_, "object": table}) + b"\n"


def _transition(opts: req.ListOptions, ev: Event) -> str | None:
    """The event type this watcher sees, given its selectors (None: not at all)."""
    if req.selects_all(opts):
        return ev.type
    now = req.matches(opts, ev.entry.obj)
    if ev.type == "DELETED":
        return "DELETED" if now else None
    before = ev.prev is not None and req.matches(opts, ev.prev.obj)
    if now:
        return "MODIFIED" if before else "ADDED"
    return "DELETED" if before else None


async def await_revision(cache: WatchCache, rv: int) -> None:
    """A resourceVersion ahead of the cache: wait a little for it, else kube's 504
    "Too large resource version" (for watches, gets and lists alike)."""
    if rv > cache.revision and not await cache.wait_for(rv, SYNC_WAIT):
        raise errors.too_large_resource_version(rv, cache.revision)


@_tracked
async def serve(objects: ObjectStore, request: web.Request, target: Target,
                opts: req.ListOptions) -> web.StreamResponse:
    cache = objects.cache
    rv = opts.resource_version
    if opts.send_initial_events and request.query.get("resourceVersionMatch") != "NotOlderThan":
        raise errors.ApiError(422, "sendInitialEvents: Forbidden: sendInitialEvents requires "
                                   "resourceVersionMatch=NotOlderThan", "Invalid")
    initial = opts.send_initial_events if opts.send_initial_events is not None else rv in ("", "0")
    requested = req.resource_version(rv)
    if requested:
        await await_revision(cache, requested)
    elif initial and not rv:
        try:
            await cache.sync()
        except StoreError:
            if opts.send_initial_events:  # NotOlderThan "now": only a current cache will do
                raise
            # A plain watch may start from what the cache holds; the rest follows as events.
    since: int | None = None if initial else int(rv)
    try:
        sub, replay = cache.subscribe(stored_resource(target.info), target.namespace, since)
    except TooOld:
        return await _serve_from_etcd(objects, request, target, opts, int(rv))
    timeout = opts.timeout_seconds or DEFAULT_TIMEOUT
    resp = await _start(request)
    enc = _Encoder(request, target)
    try:
        if initial:
            everything = req.selects_all(opts)
            for entry in cache.list(stored_resource(target.info), target.namespace):
                if everything or req.matches(opts, entry.obj):
                    await resp.write(enc.encode("ADDED", entry, None))
            if opts.send_initial_events:
                await resp.write(_bookmark(target, cache.revision, initial_end=True))
        for ev in replay:
            kind = _transition(opts, ev)
            if kind:
                await resp.write(enc.encode(kind, ev.entry, ev))
        await _stream(resp, sub, target, opts, enc, timeout, cache, since or 0)
    except (ConnectionResetError, asyncio.CancelledError):
        pass
    finally:
        cache.unsubscribe(sub)
    return resp


async def _start(request: web.Request) -> web.StreamResponse:
    resp = web.StreamResponse(status=200)
    resp.content_type = "application/json"
    resp.enable_chunked_encoding()
    await resp.prepare(request)
    return resp


async def _stream(resp: web.StreamResponse, sub, target: Target, opts: req.ListOptions,
                  enc: _Encoder, timeout: float, cache, since: int) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    last = 0  # the revision of the last event sent
    while True:
        left = deadline - loop.time()
        if left <= 0:
            await _end_revision(resp, sub, opts, enc, last)
            return
        if sub.queue.empty():
            try:
                ev = await asyncio.wait_for(sub.queue.get(), min(left, BOOKMARK_EVERY))
            except asyncio.TimeoutError:
                if opts.allow_bookmarks and sub.queue.empty():
                    await resp.write(_bookmark(target, cache.revision))
                continue
        else:
            ev = sub.queue.get_nowait()
        # Whatever else is queued goes out in the same write: one chunk per burst, not per event.
        batch: list[bytes] = []
        while True:
            if ev is None:  # the cache ended this watcher (relist, overflow, shutdown)
                if batch:
                    await resp.write(b"".join(batch))
                return
            if ev.rev > since:  # a resourceVersion ahead of the cache: skip what it already covers
                kind = _transition(opts, ev)
                if kind:
                    batch.append(enc.encode(kind, ev.entry, ev))
                    last = ev.rev
            if len(batch) >= WRITE_BATCH or sub.queue.empty():
                break
            ev = sub.queue.get_nowait()
        if batch:
            await resp.write(b"".join(batch))


async def _end_revision(resp: web.StreamResponse, sub, opts: req.ListOptions, enc: "_Encoder",
                        last: int) -> None:
    """Before a stream ends, the rest of the revision it last sent. One transaction may store
    many objects at one revision (api/batch.py), and a client resumes after the last
    resourceVersion it saw: a stream cut inside a revision would lose the rest of it. All of a
    revision's events are queued at once (the cache applies an etcd response in one go); what
    follows them is dropped here and replayed to the client's next watch."""
    tail: list[bytes] = []
    while last and not sub.queue.empty():
        ev = sub.queue.get_nowait()
        if ev is None or ev.rev != last:
            break
        kind = _transition(opts, ev)
        if kind:
            tail.append(enc.encode(kind, ev.entry, ev))
    if tail:
        await resp.write(b"".join(tail))


async def _serve_from_etcd(objects: ObjectStore, request: web.Request, target: Target,
                           opts: req.ListOptions, rv: int) -> web.StreamResponse:
    """A resourceVersion older than the cache's history: replay etcd's own history."""
    store = objects.store
    prefix = keys.collection_prefix(stored_resource(target.info), target.namespace or None)
    try:
        await store.check_history(prefix, rv + 1)
    except Compacted as exc:
        raise errors.expired(rv, exc.compacted or objects.cache.revision) from None
    events = store.watch(prefix, rv + 1)
    resp = await _start(request)
    enc = _Encoder(request, target)
    timeout = opts.timeout_seconds or DEFAULT_TIMEOUT
    try:
        await asyncio.wait_for(_pump(resp, events, opts, enc), timeout)
    except asyncio.TimeoutError:
        pass
    except Compacted as exc:
        await resp.write(_error_event(errors.expired(rv, exc.compacted)))
    except (ConnectionResetError, asyncio.CancelledError, StoreError):
        pass
    finally:
        await events.aclose()
    return resp


async def _pump(resp, events, opts, enc) -> None:
    async for ev in events:
        entry = decode(ev.key, ev.value, ev.revision)
        if req.matches(opts, entry.obj):
            kind = "DELETED" if ev.type == "DELETE" else ("ADDED" if ev.created else "MODIFIED")
            await resp.write(enc.encode(kind, entry, None))
