"""The API server with a watch cache that keeps almost nothing decoded (WARM = 2): every read
meets entries that are only their JSON, and answers exactly as with a warm cache — gets,
lists with and without selectors, paging, Tables, updates and patches starting from a cold
entry, and watches resuming from the history with selectors."""

from __future__ import annotations

import json

import pytest

from controlplane.api import cache as cache_mod
from controlplane.api.app import CACHE

from ..cluster import ApiServer, Client
from .test_api_crud import TABLE, pod
from .test_api_watch import WatchStream

PODS = "/api/v1/namespaces/default/pods"
MERGE = {"Content-Type": "application/merge-patch+json"}


@pytest.fixture
async def cold(etcd, monkeypatch):
    monkeypatch.setattr(cache_mod, "WARM", 2)
    server = await ApiServer(etcd).start()
    client = Client(server.url)
    yield server, client
    await client.close()
    await server.stop()


def names(body) -> list[str]:
    return [i["metadata"]["name"] for i in body["items"]]


async def test_reads_and_writes_from_cold_entries_answer_as_from_warm_ones(cold):
    server, client = cold
    created = {}
    for i in range(6):
        status, body = await client.request("POST", PODS, pod(f"p{i}", {"app": "a" if i % 2 else "b"}))
        assert status == 201, body
        created[f"p{i}"] = body
    cache = server._runner.app[CACHE]
    assert cache.get("/registry/pods/default/p0")._obj is None  # cold: its JSON only
    status, got = await client.request("GET", f"{PODS}/p0")
    assert status == 200 and got == created["p0"]
    status, listed = await client.request("GET", PODS)
    assert names(listed) == [f"p{i}" for i in range(6)] and listed["items"][3] == created["p3"]
    status, selected = await client.request("GET", PODS, params={"labelSelector": "app=a"})
    assert names(selected) == ["p1", "p3", "p5"]
    status, by_field = await client.request("GET", PODS, params={"fieldSelector": "metadata.name=p4"})
    assert names(by_field) == ["p4"]
    status, page = await client.request("GET", PODS, params={"limit": "4", "labelSelector": "app=b"})
    assert names(page) == ["p0", "p2", "p4"] and not page["metadata"].get("continue")
    status, page = await client.request("GET", PODS, params={"limit": "2"})
    assert names(page) == ["p0", "p1"]
    status, rest = await client.request("GET", PODS, params={"limit": "10", "continue": page["metadata"]["continue"]})
    assert names(rest) == ["p2", "p3", "p4", "p5"]
    status, table = await client.request("GET", PODS, headers={"Accept": TABLE})
    assert status == 200 and [r["cells"][0] for r in table["rows"]] == [f"p{i}" for i in range(6)]

    # Writes that start from a cold entry: a patch and a full update.
    rv = created["p5"]["metadata"]["resourceVersion"]  # the watches below resume from here
    status, patched = await client.request("PATCH", f"{PODS}/p0", data=json.dumps(
        {"metadata": {"labels": {"app": "a"}}}), headers=MERGE)
    assert status == 200 and patched["metadata"]["labels"] == {"app": "a"}
    assert patched["metadata"]["managedFields"] and patched["spec"] == created["p0"]["spec"]
    status, current = await client.request("GET", f"{PODS}/p2")
    status, updated = await client.request("PUT", f"{PODS}/p2", {**current, "metadata": {
        **current["metadata"], "annotations": {"note": "x"}}})
    assert status == 200 and updated["metadata"]["annotations"] == {"note": "x"}
    status, stale = await client.request("PUT", f"{PODS}/p2", current)  # its resourceVersion is old now
    assert status == 409, stale
    status, selected = await client.request("GET", PODS, params={"labelSelector": "app=a"})
    assert names(selected) == ["p0", "p1", "p3", "p5"]

    # A watch resuming from before all of that, through a selector: the history is cold too.
    url = f"{client.base}{PODS}?watch=1&resourceVersion={rv}&labelSelector=app%3Da"
    async with WatchStream(client.session, url) as w:
        first = await w.next()
        await client.request("PATCH", f"{PODS}/p0", data=json.dumps({"metadata": {"labels": {"app": "c"}}}),
                             headers=MERGE)
        second = await w.next()
    assert (first["type"], first["object"]["metadata"]["name"]) == ("ADDED", "p0")
    assert first["object"] == patched
    assert (second["type"], second["object"]["metadata"]["name"]) == ("DELETED", "p0")
    async with WatchStream(client.session, f"{client.base}{PODS}?watch=1&resourceVersion={rv}") as w:
        replay = [await w.next() for _ in range(3)]
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in replay] == [
        ("MODIFIED", "p0"), ("MODIFIED", "p2"), ("MODIFIED", "p0")]
