"""Group commit (store/groupcommit.py) against a real etcd.

Single-key writes that come while one is in flight go to etcd as one transaction, each still
succeeding or failing alone with the error it would have had alone. A paused etcd (SIGSTOP)
holds the first write in flight, so what queues behind it is known exactly.
"""

from __future__ import annotations

import asyncio

import pytest

from controlplane.store import KeyExists, KeyNotFound, RevisionMismatch, Store, Timeout, Unavailable


@pytest.fixture
async def store(etcd):
    s = Store([etcd.url], timeout=5.0)
    await s.open()
    yield s
    await s.close()


async def _queued_behind_a_paused_etcd(etcd, store: Store, first, *rest):
    """Start `first` while etcd is paused (it is in flight), then `rest` (they queue), then resume."""
    etcd.pause()
    try:
        head = asyncio.ensure_future(first)
        await asyncio.sleep(0.2)  # sent, and waiting for the stopped etcd
        tail = [asyncio.ensure_future(w) for w in rest]
        await asyncio.sleep(0.1)
    finally:
        etcd.resume()
    return head, tail


async def test_writes_queued_behind_one_in_flight_share_one_transaction(etcd, store):
    old = await store.create("/registry/configmaps/ns/old", b"0")
    head, tail = await _queued_behind_a_paused_etcd(
        etcd, store, store.create("/registry/configmaps/ns/first", b"1"),
        *(store.create(f"/registry/configmaps/ns/c{i}", str(i).encode()) for i in range(50)),
        store.update("/registry/configmaps/ns/old", b"updated", old))
    first = await head
    revs = await asyncio.gather(*tail)
    assert len(set(revs)) == 1 and revs[0] > first  # one revision: one transaction, after the first
    for i in range(50):
        kv = await store.get(f"/registry/configmaps/ns/c{i}")
        assert kv.value == str(i).encode() and kv.mod_revision == revs[0]
    assert (await store.get("/registry/configmaps/ns/old")).value == b"updated"


async def test_each_write_of_a_group_fails_alone_with_its_own_error(etcd, store):
    taken = await store.create("/registry/configmaps/ns/taken", b"0")
    moved = await store.create("/registry/configmaps/ns/moved", b"0")
    moved_now = await store.update("/registry/configmaps/ns/moved", b"1", moved)
    head, tail = await _queued_behind_a_paused_etcd(
        etcd, store, store.create("/registry/configmaps/ns/first", b"1"),
        store.create("/registry/configmaps/ns/taken", b"again"),
        store.update("/registry/configmaps/ns/moved", b"stale", moved),
        store.update("/registry/configmaps/ns/absent", b"x", 7),
        store.create("/registry/configmaps/ns/fine", b"ok"))
    await head
    results = await asyncio.gather(*tail, return_exceptions=True)
    assert isinstance(results[0], KeyExists) and results[0].key == "/registry/configmaps/ns/taken"
    assert isinstance(results[1], RevisionMismatch) and results[1].actual == moved_now
    assert isinstance(results[2], KeyNotFound)
    assert isinstance(results[3], int)
    assert (await store.get("/registry/configmaps/ns/taken")).mod_revision == taken  # untouched
    assert (await store.get("/registry/configmaps/ns/moved")).value == b"1"
    assert (await store.get("/registry/configmaps/ns/fine")).value == b"ok"


async def test_two_writes_of_one_key_go_in_order_in_separate_transactions(etcd, store):
    """etcd refuses a transaction that writes a key twice: the second waits for the next one."""
    head, tail = await _queued_behind_a_paused_etcd(
        etcd, store, store.create("/registry/configmaps/ns/first", b"1"),
        store.create("/registry/configmaps/ns/dup", b"a"),
        store.create("/registry/configmaps/ns/dup", b"b"),
        store.create("/registry/configmaps/ns/other", b"c"))
    await head
    results = await asyncio.gather(*tail, return_exceptions=True)
    assert isinstance(results[0], int) and isinstance(results[1], KeyExists)  # in the order made
    assert results[2] == results[0]  # `other` went with the first `dup`
    assert (await store.get("/registry/configmaps/ns/dup")).value == b"a"


async def test_a_write_cancelled_while_queued_is_never_made(etcd, store):
    head, tail = await _queued_behind_a_paused_etcd(
        etcd, store, store.create("/registry/configmaps/ns/first", b"1"),
        store.create("/registry/configmaps/ns/kept", b"k"),
        store.create("/registry/configmaps/ns/dropped", b"d"))
    tail[1].cancel()  # before the group is sent: etcd is back, but its loop has not run yet
    await head
    await tail[0]
    with pytest.raises(asyncio.CancelledError):
        await tail[1]
    assert await store.get("/registry/configmaps/ns/dropped") is None
    assert (await store.get("/registry/configmaps/ns/kept")).value == b"k"
    assert isinstance(await store.create("/registry/configmaps/ns/after", b"a"), int)  # nothing stuck


async def test_a_group_etcd_never_answers_fails_every_write_in_it(etcd):
    """etcd stopped for good: the write in flight and the group behind it each fail with etcd's
    error (nobody knows whether it ran), and none waits forever."""
    store = Store([etcd.url], timeout=1.0)
    await store.open()
    etcd.pause()
    try:
        head = asyncio.ensure_future(store.create("/registry/configmaps/ns/first", b"1"))
        await asyncio.sleep(0.1)
        tail = [asyncio.ensure_future(store.create(f"/registry/configmaps/ns/q{i}", b"q")) for i in range(5)]
        results = await asyncio.wait_for(asyncio.gather(head, *tail, return_exceptions=True), 20)
    finally:
        etcd.resume()
        await store.close()
    assert all(isinstance(r, (Timeout, Unavailable)) for r in results), results
