"""Watch semantics: resume from a resourceVersion, initial events, bookmarks, 410, restarts."""

from __future__ import annotations

import asyncio
import json

import aiohttp

from controlplane.store import Store

from ..cluster import ApiServer
from .test_api_crud import pod

PODS = "/api/v1/namespaces/default/pods"


class WatchStream:
    """Reads a chunked watch response event by event."""

    def __init__(self, session: aiohttp.ClientSession, url: str, headers=None) -> None:
        self.session, self.url, self.headers = session, url, headers
        self.resp: aiohttp.ClientResponse | None = None

    async def __aenter__(self) -> "WatchStream":
        self.resp = await self.session.get(self.url, headers=self.headers)
        return self

    async def __aexit__(self, *exc) -> None:
        self.resp.close()

    async def next(self, timeout: float = 10.0) -> dict | None:
        line = await asyncio.wait_for(self.resp.content.readline(), timeout)
        return json.loads(line) if line else None

    async def take(self, n: int, timeout: float = 10.0) -> list[dict]:
        return [await self.next(timeout) for _ in range(n)]


async def create(client, name: str, labels=None) -> dict:
    status, body = await client.request("POST", PODS, pod(name, labels))
    assert status == 201, body
    return body


async def test_watch_from_resource_version_streams_changes_in_order(client):
    first = await create(client, "a")
    rv = first["metadata"]["resourceVersion"]
    async with WatchStream(client.session, f"{client.base}{PODS}?watch=1&resourceVersion={rv}") as w:
        await create(client, "b")
        await client.request("DELETE", f"{PODS}/a")
        events = await w.take(2)
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in events] == [("ADDED", "b"), ("DELETED", "a")]
    assert int(events[1]["object"]["metadata"]["resourceVersion"]) > int(events[0]["object"]["metadata"]["resourceVersion"])


async def test_watch_without_rv_starts_with_current_state(client):
    await create(client, "a")
    async with WatchStream(client.session, f"{client.base}{PODS}?watch=true") as w:
        first = await w.next()
        await create(client, "b")
        second = await w.next()
    assert (first["type"], first["object"]["metadata"]["name"]) == ("ADDED", "a")
    assert (second["type"], second["object"]["metadata"]["name"]) == ("ADDED", "b")


async def test_send_initial_events_ends_with_annotated_bookmark(client):
    await create(client, "a")
    await create(client, "b")
    url = (f"{client.base}{PODS}?watch=true&sendInitialEvents=true&resourceVersionMatch=NotOlderThan"
           "&allowWatchBookmarks=true&fieldSelector=metadata.name%3Db")
    async with WatchStream(client.session, url) as w:
        added, bookmark = await w.take(2)
    assert (added["type"], added["object"]["metadata"]["name"]) == ("ADDED", "b")
    assert bookmark["type"] == "BOOKMARK"
    assert bookmark["object"]["metadata"]["annotations"] == {"k8s.io/initial-events-end": "true"}


async def test_selector_transitions_are_added_and_deleted(client):
    created = await create(client, "a", {"app": "x"})
    rv = created["metadata"]["resourceVersion"]
    url = f"{client.base}{PODS}?watch=1&resourceVersion={rv}&labelSelector=app%3Dy"
    async with WatchStream(client.session, url) as w:
        patch = {"metadata": {"labels": {"app": "y"}}}
        hdr = {"Content-Type": "application/merge-patch+json"}
        await client.request("PATCH", f"{PODS}/a", data=json.dumps(patch), headers=hdr)
        await client.request("PATCH", f"{PODS}/a", data=json.dumps({"metadata": {"labels": {"app": "z"}}}),
                             headers=hdr)
        events = await w.take(2)
    assert [e["type"] for e in events] == ["ADDED", "DELETED"]


async def test_watch_timeout_seconds_closes_the_stream(client):
    async with WatchStream(client.session, f"{client.base}{PODS}?watch=1&timeoutSeconds=1") as w:
        assert await w.next(timeout=10) is None


async def test_compacted_resource_version_is_410_expired(client, etcd, api):
    old_rv = (await create(client, "a"))["metadata"]["resourceVersion"]
    for i in range(3):
        await create(client, f"x{i}")
    store = Store([etcd.url])
    await store.compact(await store.revision())
    await store.close()
    # A fresh API server's cache starts after old_rv, so the watch needs etcd's (compacted) history.
    await api.stop()
    restarted = await ApiServer(etcd, port=api.port).start()
    try:
        status, body = await client.request("GET", f"{PODS}?watch=1&resourceVersion={old_rv}")
    finally:
        await restarted.stop()
    assert status == 410 and body["reason"] == "Expired"
    assert body["message"].startswith(f"too old resource version: {old_rv}")


async def test_api_server_restart_mid_watch_loses_no_event(etcd, client, api):
    """A client resumes from its last resourceVersion after the API server restarts."""
    last_rv = (await create(client, "before"))["metadata"]["resourceVersion"]
    seen: list[tuple[str, str]] = []
    async with WatchStream(client.session, f"{client.base}{PODS}?watch=1&resourceVersion={last_rv}") as w:
        await create(client, "one")
        ev = await w.next()
        seen.append((ev["type"], ev["object"]["metadata"]["name"]))
        last_rv = ev["object"]["metadata"]["resourceVersion"]
        await api.stop()
        # The stream ends when its server goes away.
        try:
            while await w.next(timeout=5) is not None:
                pass
        except (aiohttp.ClientPayloadError, aiohttp.ClientConnectionError, asyncio.TimeoutError):
            pass
    restarted = await ApiServer(etcd, port=api.port).start()
    try:
        # Changes land while the client is still disconnected.
        await create(client, "two")
        await client.request("DELETE", f"{PODS}/one")
        await create(client, "three")
        async with WatchStream(client.session, f"{client.base}{PODS}?watch=1&resourceVersion={last_rv}") as w:
            for _ in range(3):
                ev = await w.next()
                seen.append((ev["type"], ev["object"]["metadata"]["name"]))
    finally:
        await restarted.stop()
    assert seen == [("ADDED", "one"), ("ADDED", "two"), ("DELETED", "one"), ("ADDED", "three")]


async def test_the_legacy_watch_prefix_watches_a_collection_or_one_object(client):
    """/api/v1/watch/namespaces/NS/pods[/NAME] is a watch, as ?watch=1 is (kube still serves it)."""
    await create(client, "a")
    await create(client, "b")
    collection = f"{client.base}/api/v1/watch/namespaces/default/pods"
    async with WatchStream(client.session, collection) as w:
        assert w.resp.headers["Content-Type"].startswith("application/json")
        assert sorted((e["type"], e["object"]["metadata"]["name"]) for e in await w.take(2)) == [
            ("ADDED", "a"), ("ADDED", "b")]
    async with WatchStream(client.session, f"{collection}/b") as w:
        first = await w.next()
        await client.request("DELETE", f"{PODS}/a")
        await client.request("DELETE", f"{PODS}/b")
        second = await w.next()
    assert (first["type"], first["object"]["metadata"]["name"]) == ("ADDED", "b")
    assert (second["type"], second["object"]["metadata"]["name"]) == ("DELETED", "b")
