"""Watcher: list-then-watch as one endless async iterator that survives disconnects and 410s.

It keeps the last state of every object it has reported (`objects`), which is what lets it
resume from the last resourceVersion after a dropped connection, and after a 410 Expired
re-list and report the difference (ADDED / MODIFIED / DELETED) as ordinary events. The
Informer uses that same dict as its cache.
"""

from __future__ import annotations

import asyncio
import logging
import random
from dataclasses import dataclass
from typing import Any, AsyncIterator, Callable, Protocol

from ..machinery import jsonio
from ..resources.registry import ResourceInfo
from . import errors
from .objects import ObjectList
from .urls import object_key

log = logging.getLogger(__name__)

MAX_BACKOFF = 5.0  # seconds between reconnects when the API server is down


class ListWatchClient(Protocol):
    """What a Watcher needs of its client (rest.ApiClient)."""

    async def list(self, info: ResourceInfo, namespace: str = "", *, label_selector: str = "",
                   field_selector: str = "", limit: int = 500) -> ObjectList: ...

    def url(self, info: ResourceInfo, namespace: str = "", name: str = "", subresource: str = "") -> str: ...

    def stream_lines(self, url: str, params: dict[str, str]) -> AsyncIterator[bytes]: ...


@dataclass(frozen=True)
class WatchEvent:
    type: str  # ADDED | MODIFIED | DELETED
    object: dict[str, Any]
    old: dict[str, Any] | None = None
    """The state this watcher last reported for the object (None when new)."""

    def __iter__(self):  # `type_, obj = event`
        return iter((self.type, self.object))


class Watcher:
    """`async for ev in Watcher(...)`: first the current state (unless resource_version is
    given), then every change, forever. `synced` is set once the initial state was delivered."""

    def __init__(self, client: ListWatchClient, info: ResourceInfo, namespace: str = "", *,
                 resource_version: str = "", label_selector: str = "", field_selector: str = "",
                 timeout_seconds: int = 0, transform: Callable[[dict[str, Any]], dict[str, Any]] | None = None) -> None:
        self.client, self.info, self.namespace = client, info, namespace
        self.transform = transform  # applied to each object before it is kept and reported
        self.timeout_seconds = timeout_seconds  # per request; 0: the server's default
        self.label_selector, self.field_selector = label_selector, field_selector
        self.resource_version = resource_version
        self.objects: dict[str, dict[str, Any]] = {}
        self.synced = asyncio.Event()
        self._iter: AsyncIterator[WatchEvent] | None = None

    def __aiter__(self) -> "Watcher":
        return self

    async def __anext__(self) -> WatchEvent:
        if self._iter is None:
            self._iter = self._run()
        return await self._iter.__anext__()

    async def aclose(self) -> None:
        if self._iter is not None:
            await self._iter.aclose()  # type: ignore[attr-defined]

    # -- the loop -----------------------------------------------------------------------------

    async def _run(self) -> AsyncIterator[WatchEvent]:
        failures = 0
        need_list = not self.resource_version
        while True:
            try:
                if need_list:
                    for ev in await self._relist():
                        yield ev
                    need_list = False
                self.synced.set()
                async for ev in self._watch_once():
                    failures = 0
                    yield ev
                failures = 0  # the server ended the watch (timeout): resume at once
            except errors.Expired:
                log.info("watch %s: resourceVersion %s expired; re-listing", self.info.resource,
                         self.resource_version)
                need_list = True
            except (errors.Unavailable, errors.ServerError, asyncio.TimeoutError) as exc:
                failures += 1
                delay = min(MAX_BACKOFF, 0.1 * 2 ** min(failures, 6)) * random.uniform(0.5, 1.0)
                log.debug("watch %s: %s; retrying in %.2fs", self.info.resource, exc, delay)
                await asyncio.sleep(delay)

    async def _relist(self) -> list[WatchEvent]:
        """The events that turn `objects` into what the server holds now."""
        listed = await self.client.list(self.info, self.namespace, label_selector=self.label_selector,
                                        field_selector=self.field_selector)
        fresh = {object_key(o): _with_kind(self.info, o) for o in listed.items}
        if self.transform is not None:
            fresh = {key: self.transform(obj) for key, obj in fresh.items()}
        events = [WatchEvent("DELETED", obj, obj) for key, obj in self.objects.items() if key not in fresh]
        for key, obj in fresh.items():
            old = self.objects.get(key)
            if old is None:
                events.append(WatchEvent("ADDED", obj))
            elif _rv(old) != _rv(obj):
                events.append(WatchEvent("MODIFIED", obj, old))
        self.objects = fresh
        self.resource_version = listed.resource_version
        return events

    async def _watch_once(self) -> AsyncIterator[WatchEvent]:
        params = {"watch": "1", "allowWatchBookmarks": "true", "resourceVersion": self.resource_version}
        if self.label_selector:
            params["labelSelector"] = self.label_selector
        if self.field_selector:
            params["fieldSelector"] = self.field_selector
        if self.timeout_seconds:
            params["timeoutSeconds"] = str(self.timeout_seconds)
        url = self.client.url(self.info, self.namespace)
        async for line in self.client.stream_lines(url, params):
            try:
                ev = jsonio.loads(line)
                type_, obj = ev["type"], ev["object"]
            except (ValueError, KeyError, TypeError):
                raise errors.unavailable(f"watch {url}: undecodable event {line[:200]!r}") from None
            if type_ == "ERROR":
                raise errors.from_response(int(obj.get("code") or 500), obj)
            rv = (obj.get("metadata") or {}).get("resourceVersion")
            if rv:
                self.resource_version = rv
            if type_ == "BOOKMARK":
                continue
            if self.transform is not None:
                obj = self.transform(obj)
            key = object_key(obj)
            if type_ == "DELETED":
                old = self.objects.pop(key, None)
            else:
                old = self.objects.get(key)
                self.objects[key] = obj
                # A replayed ADDED for a known object (after a reconnect) is an update.
                type_ = "MODIFIED" if old is not None else "ADDED"
            yield WatchEvent(type_, obj, old)


def _rv(obj: dict[str, Any]) -> str:
    return (obj.get("metadata") or {}).get("resourceVersion", "")


def _with_kind(info: ResourceInfo, obj: dict[str, Any]) -> dict[str, Any]:
    # List items carry no kind/apiVersion on the wire; watch objects do. Make them alike.
    obj.setdefault("apiVersion", info.api_version)
    obj.setdefault("kind", info.kind)
    return obj
