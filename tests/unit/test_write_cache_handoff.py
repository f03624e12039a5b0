"""The watch cache takes a written object only for the very bytes etcd sends back, waiters
wake in revision order, and remembered FieldsV1 decodings are never shared with callers
(remembered encodings: test_write_path_copies.py)."""

from __future__ import annotations

import asyncio

from controlplane.api.cache import WatchCache
from controlplane.machinery import jsonio
from controlplane.machinery.apply import read_managed_fields, to_fields_v1

from .watch_events import Ev

KEY = "/registry/pods/default/p"


def written(labels: dict) -> tuple[dict, bytes]:
    obj = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "default",
                                                          "labels": labels}}
    return obj, jsonio.dumps(obj)


def test_the_cache_takes_the_written_object_for_exactly_its_bytes():
    cache = WatchCache(store=None)
    obj, value = written({"a": "1"})
    cache.expect(KEY, value, obj)
    cache._apply(Ev("PUT", KEY, bytes(value), 5))  # equal bytes, another bytes object
    entry = cache.get(KEY)
    assert entry.obj is obj and entry.obj["metadata"]["resourceVersion"] == "5"

    # Someone else's write of other bytes is decoded; ours stays expected until it comes.
    mine, value = written({"a": "2"})
    cache.expect(KEY, value, mine)
    theirs = jsonio.dumps(written({"a": "3"})[0])
    cache._apply(Ev("PUT", KEY, theirs, 6))
    assert cache.get(KEY).obj["metadata"]["labels"] == {"a": "3"}
    cache._apply(Ev("PUT", KEY, value, 7))
    assert cache.get(KEY).obj is mine


def test_forget_drops_only_the_writers_own_expectation():
    cache = WatchCache(store=None)
    first, first_value = written({"a": "1"})
    second, second_value = written({"a": "2"})
    cache.expect(KEY, first_value, first)
    cache.expect(KEY, second_value, second)  # a later write of the same key replaces it
    cache.forget(KEY, first_value)
    cache._apply(Ev("PUT", KEY, second_value, 3))
    assert cache.get(KEY).obj is second
    failed, failed_value = written({"a": "4"})
    cache.expect(KEY, failed_value, failed)
    cache.forget(KEY, failed_value)  # the write failed: a later equal PUT is decoded
    cache._apply(Ev("PUT", KEY, failed_value, 4))
    assert cache.get(KEY).obj is not failed and cache.get(KEY).obj["metadata"]["labels"] == {"a": "4"}


async def test_waiters_wake_in_revision_order_and_late_ones_keep_waiting():
    cache = WatchCache(store=None)
    woken: list[int] = []

    async def wait(rev: int) -> None:
        await cache.wait_for(rev, timeout=30)
        woken.append(rev)

    tasks = [asyncio.create_task(wait(rev)) for rev in (4, 2, 9, 3)]
    await asyncio.sleep(0)
    obj, value = written({})
    for rev in range(1, 5):
        cache._apply(Ev("PUT", KEY, value, rev))
        await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert woken == [2, 3, 4]
    with_timeout = asyncio.create_task(cache.wait_for(20, timeout=0.01))
    await asyncio.gather(with_timeout, return_exceptions=True)  # gives up; stays in the heap
    for rev in range(5, 10):
        cache._apply(Ev("PUT", KEY, value, rev))
    await asyncio.wait_for(asyncio.gather(*tasks), 30)
    assert woken == [2, 3, 4, 9]


def test_remembered_field_sets_are_the_callers_to_change():
    tree = to_fields_v1({("f:spec", "f:nodeName"), ("f:metadata", "f:labels", "f:app")})
    obj = {"metadata": {"managedFields": [{"manager": "m", "operation": "Update", "apiVersion": "v1",
                                           "fieldsType": "FieldsV1", "fieldsV1": tree}]}}
    first = read_managed_fields(obj)[0]
    first.fields.clear()
    again = read_managed_fields(obj)[0]
    assert again.fields == {("f:spec", "f:nodeName"), ("f:metadata", "f:labels", "f:app")}
