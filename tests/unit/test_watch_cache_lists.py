"""The watch cache's lists: by namespace or all, in key order, and current after every change.
They come from a per-namespace index and a sorted copy kept until that namespace changes; a
model (a plain dict of what was written, filtered and sorted) holds them to the same answer
over a random run of creates, updates and deletes, and a relist."""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass

from controlplane.api.cache import WatchCache
from controlplane.machinery import jsonio

from .watch_events import Ev


@dataclass
class Kv:  # what Store.list yields
    key: str
    value: bytes
    mod_revision: int


class FakeStore:  # only for _relist: the model's current state (no etcd in a unit test)
    def __init__(self, model: dict[str, tuple[bytes, int]], rev: int) -> None:
        self.model, self.rev = model, rev

    async def list(self, prefix: str):
        return [Kv(k, v, r) for k, (v, r) in sorted(self.model.items())], self.rev, False


def value(resource: str, ns: str, name: str, n: int) -> bytes:
    md = {"name": name, "labels": {"n": str(n)}} | ({"namespace": ns} if ns else {})
    return jsonio.dumps({"apiVersion": "v1", "kind": resource, "metadata": md})


def key(resource: str, ns: str, name: str) -> str:
    return f"/registry/{resource}/{ns}/{name}" if ns else f"/registry/{resource}/{name}"


def listed(cache: WatchCache, resource: str, ns: str) -> list[tuple[str, int]]:
    return [(e.key, e.rev) for e in cache.list(resource, ns)]


def expected(model: dict[str, tuple[bytes, int]], resource: str, ns: str) -> list[tuple[str, int]]:
    prefix = f"/registry/{resource}/" + (f"{ns}/" if ns else "")
    return [(k, r) for k, (_, r) in sorted(model.items()) if k.startswith(prefix)]


async def test_lists_by_namespace_and_in_all_stay_in_key_order_and_current():
    rnd = random.Random(7)
    cache = WatchCache(store=None)
    model: dict[str, tuple[bytes, int]] = {}
    places = [("pods", ns) for ns in ("a", "b", "kube-system")] + [("nodes", "")]
    names = [f"p{i}" for i in range(12)]
    rev = 0
    for step in range(600):
        resource, ns = rnd.choice(places)
        name = rnd.choice(names)
        k = key(resource, ns, name)
        rev += 1
        if k in model and rnd.random() < 0.3:
            cache._apply(Ev("DELETE", k, model.pop(k)[0], rev))
        else:
            v = value(resource, ns, name, step)
            model[k] = (v, rev)
            cache._apply(Ev("PUT", k, v, rev))
        # Read some lists at every step (each memoised until its namespace changes)...
        for resource_, ns_ in rnd.sample(places + [("pods", ""), ("pods", "empty")], 3):
            assert listed(cache, resource_, ns_) == expected(model, resource_, ns_), (step, resource_, ns_)
        if step == 300:  # ...and across a relist of the same state
            cache._store = FakeStore(dict(model), rev)
            await cache._relist()
    for resource, ns in places + [("pods", ""), ("services", "a")]:
        assert listed(cache, resource, ns) == expected(model, resource, ns)
    # Entries are the cache's own: a get and a list hand out the same one.
    some = next(iter(model))
    assert cache.get(some) in cache.list(some.split("/")[2], "" if some.count("/") == 3 else some.split("/")[3])


class SlowRevisions:  # Store.revision as the test releases each read (no etcd in a unit test)
    def __init__(self) -> None:
        self.reads: list[asyncio.Future[int]] = []

    async def revision(self) -> int:
        fut = asyncio.get_running_loop().create_future()
        self.reads.append(fut)
        return await fut


async def until(cond) -> None:
    for _ in range(100):
        if cond():
            return
        await asyncio.sleep(0)
    raise AssertionError("condition not reached")


async def test_consistent_reads_share_an_etcd_read_that_began_after_them():
    store = SlowRevisions()
    cache = WatchCache(store=store)
    first = asyncio.ensure_future(cache._etcd_revision())
    await until(lambda: len(store.reads) == 1)
    # These come while the first read is under way: it may predate a write they have seen,
    # so they must not take its answer; they share one read begun after it.
    later = [asyncio.ensure_future(cache._etcd_revision()) for _ in range(5)]
    for _ in range(10):
        await asyncio.sleep(0)
    assert len(store.reads) == 1 and not any(f.done() for f in later)
    store.reads[0].set_result(10)
    assert await first == 10
    await until(lambda: len(store.reads) == 2)
    store.reads[1].set_result(11)
    assert await asyncio.gather(*later) == [11] * 5 and len(store.reads) == 2
    # A failed read fails those sharing it, and the next call reads again.
    failing = [asyncio.ensure_future(cache._etcd_revision()) for _ in range(2)]
    await until(lambda: len(store.reads) == 3)
    store.reads[2].set_exception(TimeoutError("etcd did not answer"))
    assert all(isinstance(r, TimeoutError) for r in await asyncio.gather(*failing, return_exceptions=True))
    again = asyncio.ensure_future(cache._etcd_revision())
    await until(lambda: len(store.reads) == 4)
    store.reads[3].set_result(12)
    assert await again == 12


def test_empty_namespaces_leave_nothing_behind():
    cache = WatchCache(store=None)
    for i in range(50):
        k = key("pods", f"ns-{i}", "p")
        cache._apply(Ev("PUT", k, value("pods", f"ns-{i}", "p", i), 2 * i + 1))
        assert [e.key for e in cache.list("pods", f"ns-{i}")] == [k]
        cache._apply(Ev("DELETE", k, value("pods", f"ns-{i}", "p", i), 2 * i + 2))
        assert cache.list("pods", f"ns-{i}") == () and cache.list("pods", f"never-{i}") == ()
    assert cache._by_ns["pods"] == {} and cache._sorted == {}
