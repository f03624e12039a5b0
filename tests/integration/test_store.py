"""The storage contract against a real etcd: CAS create/update/delete, list, watch, compaction."""

from __future__ import annotations

import asyncio

import pytest

from controlplane.store import Compacted, KeyExists, KeyNotFound, RevisionMismatch, Store, Unavailable, keys

from ..cluster import free_port


@pytest.fixture
async def store(etcd):
    s = Store([etcd.url])
    await s.open()
    yield s
    await s.close()


def test_key_layout():
    assert keys.object_key("pods", "default", "web") == "/registry/pods/default/web"
    assert keys.object_key("nodes", None, "n1") == "/registry/nodes/n1"
    assert keys.collection_prefix("pods") == "/registry/pods/"
    assert keys.collection_prefix("pods", "ns") == "/registry/pods/ns/"
    assert keys.resource_of("/registry/deployments/default/x") == "deployments"


async def test_create_is_create_if_absent(store):
    rev = await store.create("/registry/pods/default/a", b"1")
    with pytest.raises(KeyExists):
        await store.create("/registry/pods/default/a", b"2")
    kv = await store.get("/registry/pods/default/a")
    assert (kv.value, kv.mod_revision) == (b"1", rev)


async def test_update_compares_revision(store):
    rev = await store.create("/registry/pods/default/a", b"1")
    rev2 = await store.update("/registry/pods/default/a", b"2", rev)
    assert rev2 > rev
    with pytest.raises(RevisionMismatch) as info:
        await store.update("/registry/pods/default/a", b"3", rev)
    assert info.value.actual == rev2
    with pytest.raises(KeyNotFound):
        await store.update("/registry/pods/default/missing", b"3", rev)
    assert (await store.get("/registry/pods/default/a")).value == b"2"


async def test_delete_with_and_without_precondition(store):
    rev = await store.create("/registry/pods/default/a", b"1")
    with pytest.raises(RevisionMismatch):
        await store.delete("/registry/pods/default/a", rev + 100)
    _, last = await store.delete("/registry/pods/default/a", rev)
    assert last.value == b"1"
    with pytest.raises(KeyNotFound):
        await store.delete("/registry/pods/default/a")


async def test_a_list_larger_than_grpcs_default_4_mib(store):
    """The watch cache lists the whole registry at start: a big cluster answers with far more."""
    value = b"x" * (1024 * 1024)  # under etcd's 1.5 MiB request limit, six of them over 4 MiB
    for i in range(6):
        await store.put(f"/big/{i}", value)
    items, _, _ = await store.list("/big/")
    assert len(items) == 6 and all(kv.value == value for kv in items)


async def test_list_is_consistent_and_paged(store):
    for i in range(5):
        await store.create(f"/registry/pods/ns/p{i}", str(i).encode())
    await store.create("/registry/pods/other/x", b"x")
    items, rev, more = await store.list("/registry/pods/ns/")
    assert [kv.key.rsplit("/", 1)[1] for kv in items] == ["p0", "p1", "p2", "p3", "p4"]
    assert not more and rev == await store.revision()
    page, _, more = await store.list("/registry/pods/ns/", limit=2)
    assert len(page) == 2 and more
    rest, _, more = await store.list("/registry/pods/ns/", start=page[-1].key + "\0")
    assert [kv.key for kv in rest] == [kv.key for kv in items[2:]] and not more


async def test_watch_from_revision_sees_every_change_in_order(store):
    rev = await store.create("/registry/pods/ns/a", b"1")
    await store.update("/registry/pods/ns/a", b"2", rev)
    await store.delete("/registry/pods/ns/a")
    seen = []

    async def consume():
        async for ev in store.watch("/registry/pods/", rev):
            seen.append((ev.type, ev.value))
            if ev.type == "DELETE":
                return

    await asyncio.wait_for(consume(), 10)
    assert seen == [("PUT", b"1"), ("PUT", b"2"), ("DELETE", b"2")]


async def test_watch_of_compacted_revision_raises(store):
    rev = await store.create("/registry/pods/ns/a", b"1")
    for i in range(3):
        rev = await store.update("/registry/pods/ns/a", str(i).encode(), rev)
    await store.compact(rev)
    with pytest.raises(Compacted):
        async for _ in store.watch("/registry/pods/", rev - 2):
            break


async def test_a_watch_on_a_frozen_etcd_gives_up_within_its_bound(etcd):
    """A stopped etcd keeps the connection open and sends nothing: the watch must notice by
    itself (progress requests unanswered), or its caller would wait forever."""
    store = Store([etcd.url], timeout=2.0, watch_silence=1.5)
    await store.open()
    events = store.watch("/registry/", 1, progress=True)
    try:
        first = await asyncio.wait_for(anext(events), 10)
        assert first.type == "PROGRESS"  # the watch is created; etcd answers progress requests
        assert (await asyncio.wait_for(anext(events), 10)).type == "PROGRESS"
        etcd.pause()
        with pytest.raises(Unavailable, match="silent"):
            await asyncio.wait_for(anext(events), 10)
    finally:
        etcd.resume()
        await events.aclose()
        await store.close()


async def test_reads_move_to_the_next_endpoint_and_writes_that_never_left_too(etcd):
    """A dead endpoint first in the list: calls go to the next one, without an error."""
    dead = f"http://127.0.0.1:{free_port()}"
    store = Store([dead, etcd.url], timeout=2.0)
    try:
        rev = await store.create("/registry/pods/ns/x", b"1")  # dialled past the dead one
        assert (await store.get("/registry/pods/ns/x")).mod_revision == rev
    finally:
        await store.close()
