"""The watch cache's memory: only the most recently written (or read) entries hold their decoded
objects, the others their encoding only (decoded again on demand, equal to what they were);
encodings it keeps are right-sized; a watch resuming from the history gets every event exactly."""

from __future__ import annotations

import tracemalloc

from controlplane.api import cache as cache_mod
from controlplane.api.cache import WatchCache, kept
from controlplane.machinery import jsonio

from .watch_events import Ev


def pod(name: str, n: int) -> bytes:
    return jsonio.dumps({"apiVersion": "v1", "kind": "Pod",
                         "metadata": {"name": name, "namespace": "default", "labels": {"n": str(n)}},
                         "spec": {"nodeName": f"node-{n}"}})


def expected(name: str, rev: int) -> dict:
    obj = jsonio.loads(pod(name, rev))
    obj["metadata"]["resourceVersion"] = str(rev)
    return obj


def test_only_the_most_recent_entries_hold_their_objects_and_a_read_decodes_again(monkeypatch):
    monkeypatch.setattr(cache_mod, "WARM", 3)
    cache = WatchCache(store=None)
    key = "/registry/pods/default/p"
    for rev in range(1, 7):
        cache._apply(Ev("PUT", key, pod("p", rev), rev))
    states = [ev.entry for ev in cache._history]
    assert [s._obj is None for s in states] == [True, True, True, False, False, False]
    for name, rev in (("q", 7), ("r", 8), ("s", 9)):  # the current state goes cold as well
        cache._apply(Ev("PUT", f"/registry/pods/default/{name}", pod(name, rev), rev))
    current = cache.get(key)
    assert current is states[-1] and current._obj is None and current.api_version == "v1"
    # A read decodes it again, equal to what was written, and the same dict for the next read.
    obj = current.obj
    assert obj == expected("p", 6) and current.obj is obj
    for rev, state in enumerate(states, start=1):  # superseded states read back equal too
        assert state.obj == expected("p", rev)
    # Those reads made them warm again, within the bound: the oldest went cold.
    assert sum(s._obj is not None for s in [*states, *(cache.get(f"/registry/pods/default/{n}") for n in "qrs")]) == 3
    # The history still replays every change, in order, with its own object.
    sub, replay = cache.subscribe("pods", "default", 0)
    replayed = [jsonio.loads(ev.json()) for ev in replay if ev.entry.name == "p"]
    assert [r["object"] for r in replayed] == [expected("p", rev) for rev in range(1, 7)]
    assert [r["type"] for r in replayed] == ["ADDED"] + ["MODIFIED"] * 5
    cache.unsubscribe(sub)


def test_a_deleted_state_goes_cold_too_and_entries_of_one_key_share_their_strings(monkeypatch):
    monkeypatch.setattr(cache_mod, "WARM", 1)
    cache = WatchCache(store=None)
    key = "/registry/pods/default/p"
    cache._apply(Ev("PUT", key, pod("p", 1), 1))
    cache._apply(Ev("PUT", key, pod("p", 2), 2))
    first, second = (ev.entry for ev in cache._history)
    assert second.key is first.key and second.name is first.name  # not split again per event
    cache._apply(Ev("DELETE", key, pod("p", 2), 3))
    cache._apply(Ev("PUT", "/registry/pods/default/q", pod("q", 4), 4))
    deleted = cache._history[2]
    assert deleted.type == "DELETED" and deleted.entry._obj is None and deleted.prev is second
    assert deleted.entry.obj["metadata"]["resourceVersion"] == "3"
    assert cache.get(key) is None


def test_kept_encodings_take_their_own_size():
    obj = {"data": "x" * 3000}
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        held = [kept(jsonio.dumps(obj)) for _ in range(200)]
        used = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert held[0] == jsonio.dumps(obj)
    assert used < 200 * (len(held[0]) + 200), used  # orjson's own buffers held 8-32 KB each
