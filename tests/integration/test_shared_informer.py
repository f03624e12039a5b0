"""Shared informers against the real API server: one watch per kind however many users,
each user with its own handlers, replay, resync and lifetime."""

from __future__ import annotations

import asyncio

import pytest

from controlplane.api.app import CACHE
from controlplane.client import ApiClient
from controlplane.client.kinds import NODES, PODS
from controlplane.client.shared import SharedInformer, shared_watches

from ..cluster import ApiServer, wait_until


def pod(name: str, **spec) -> dict:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "default"},
            "spec": {"containers": [{"name": "c", "image": "busybox"}], **spec}}


def server_watches(api: ApiServer, resource: str) -> int:
    """Watches the API server is serving on `resource` right now."""
    return len(api._runner.app[CACHE]._subs.get(resource, ()))


class Recorder:
    """Handlers that write down what they saw, as (event, pod name)."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str]] = []

    def handlers(self) -> dict:
        return {"on_add": lambda o: self.seen.append(("add", o["metadata"]["name"])),
                "on_update": lambda old, new: self.seen.append(("update", new["metadata"]["name"])),
                "on_delete": lambda o: self.seen.append(("delete", o["metadata"]["name"]))}


def started(client: ApiClient, recorder: Recorder | None = None, info=PODS, **options) -> SharedInformer:
    informer = SharedInformer(client, info, **options)
    if recorder is not None:
        informer.add_handlers(**recorder.handlers())
    return informer.start()


@pytest.fixture
async def clients(api):
    # Two components' own clients (different user agents), as the controller manager makes them.
    a, b = ApiClient(api.url, user_agent="pyctl-a"), ApiClient(api.url, user_agent="pyctl-b")
    yield a, b
    await a.close()
    await b.close()


async def test_users_share_one_watch_and_each_get_every_event(api, clients):
    a, b = clients
    await a.create(PODS, pod("first"))
    ra, rb = Recorder(), Recorder()
    ia, ib = started(a, ra), started(b, rb)
    try:
        await ia.wait_synced(10)
        await ib.wait_synced(10)
        assert [(url, res, n) for url, res, n in shared_watches() if res == "pods"] == [(api.url, "pods", 2)]
        await wait_until(lambda: server_watches(api, "pods") == 1)
        assert ia.get("default/first") is ib.get("default/first") is not None  # one cache
        await a.create(PODS, pod("second"))
        await wait_until(lambda: ("add", "second") in ra.seen and ("add", "second") in rb.seen)
        assert ra.seen == rb.seen == [("add", "first"), ("add", "second")]
    finally:
        await ia.stop()
        await ib.stop()


async def test_stop_removes_only_that_users_handlers_and_the_last_stop_ends_the_watch(api, clients):
    a, b = clients
    ra, rb = Recorder(), Recorder()
    ia, ib = started(a, ra), started(b, rb)
    await ia.wait_synced(10)
    await ia.stop()
    await a.create(PODS, pod("after"))
    await wait_until(lambda: ("add", "after") in rb.seen)
    await b.delete(PODS, "after", "default", grace_period_seconds=0)
    await wait_until(lambda: ("delete", "after") in rb.seen)
    assert ra.seen == []
    assert server_watches(api, "pods") == 1  # the other user still watches
    await ib.stop()
    assert [w for w in shared_watches() if w[1] == "pods"] == []
    await wait_until(lambda: server_watches(api, "pods") == 0)


async def test_a_late_user_gets_the_cache_replayed_and_a_restart_starts_clean(api, clients):
    a, b = clients
    await a.create(PODS, pod("p1"))
    await a.create(PODS, pod("p2"))
    first = started(a)
    try:
        await first.wait_synced(10)
        late = Recorder()
        informer = started(b, late)  # the watch is synced already: no list of its own, a replay instead
        assert informer.synced and sorted(late.seen) == [("add", "p1"), ("add", "p2")]
        # Leadership lost and won again: the stopped term hears nothing more, the new one
        # starts from the cache.
        await informer.stop()
        await a.delete(PODS, "p1", "default", grace_period_seconds=0)
        await wait_until(lambda: first.get("default/p1") is None)
        assert ("delete", "p1") not in late.seen
        again = Recorder()
        term2 = started(b, again)
        assert again.seen == [("add", "p2")] and [w[2] for w in shared_watches() if w[1] == "pods"] == [2]
        await term2.stop()
    finally:
        await first.stop()


async def test_resync_period_is_per_user(api, clients):
    a, b = clients
    await a.create(PODS, pod("p"))
    fast, quiet = Recorder(), Recorder()
    ia, ib = started(a, fast, resync_period=0.1), started(b, quiet)
    try:
        await wait_until(lambda: fast.seen.count(("update", "p")) >= 2)
        assert quiet.seen == [("add", "p")]
    finally:
        await ia.stop()
        await ib.stop()


async def test_a_failing_handler_does_not_disturb_other_users(api, clients):
    a, b = clients
    ok = Recorder()

    def broken(obj: dict) -> None:
        raise RuntimeError("boom")

    ib = started(b, ok)
    await a.create(PODS, pod("x"))
    await wait_until(lambda: ("add", "x") in ok.seen)
    ia = SharedInformer(a, PODS)
    ia.add_handlers(on_add=broken, on_delete=lambda o: ok.seen.append(("a saw delete", o["metadata"]["name"])))
    ia.start()  # its replay of x fails: logged, as a failure on a live event would be
    try:
        await a.create(PODS, pod("y"))
        await a.delete(PODS, "x", "default", grace_period_seconds=0)
        await wait_until(lambda: ("delete", "x") in ok.seen)
        assert ok.seen == [("add", "x"), ("add", "y"), ("delete", "x"), ("a saw delete", "x")]  # in start order
    finally:
        await ia.stop()
        await ib.stop()


async def test_separate_api_servers_do_not_share(etcd, api, clients):
    other = await ApiServer(etcd).start()
    c = ApiClient(other.url, user_agent="pyctl-other")
    ia, ib = started(clients[0], info=NODES), started(c, info=NODES)
    try:
        await ia.wait_synced(10)
        await ib.wait_synced(10)
        assert sorted(url for url, res, _ in shared_watches() if res == "nodes") == sorted([api.url, other.url])
        await wait_until(lambda: server_watches(api, "nodes") == 1 and server_watches(other, "nodes") == 1)
    finally:
        await ia.stop()
        await ib.stop()
        await c.close()
        await other.stop()


async def test_a_narrowed_view_sees_objects_enter_and_leave_as_a_field_selector_would(api, clients):
    a, b = clients
    await a.create(PODS, pod("bound", nodeName="n1"))
    await a.create(PODS, pod("pending"))
    bound, everything = Recorder(), Recorder()
    full = started(b, everything)
    view = started(a, bound, where=lambda p: bool((p.get("spec") or {}).get("nodeName")))
    try:
        await view.wait_synced(10)
        assert bound.seen == [("add", "bound")] and len(everything.seen) == 2
        assert view.keys() == ["default/bound"] and view.get("default/pending") is None
        assert [p["metadata"]["name"] for p in view.list()] == ["bound"]
        await a.request("POST", a.url(PODS, "default", "pending", "binding"),
                        body={"apiVersion": "v1", "kind": "Binding", "metadata": {"name": "pending"},
                              "target": {"apiVersion": "v1", "kind": "Node", "name": "n1"}})
        await wait_until(lambda: ("add", "pending") in bound.seen)  # entering the view: an add
        await a.create(PODS, pod("never-bound"))
        await a.delete(PODS, "never-bound", "default", grace_period_seconds=0)
        await a.delete(PODS, "bound", "default", grace_period_seconds=0)
        await wait_until(lambda: ("delete", "bound") in bound.seen)
        await wait_until(lambda: ("delete", "never-bound") in everything.seen)
        assert [e for e in bound.seen if e[1] == "never-bound"] == []
        assert [w[2] for w in shared_watches() if w[1] == "pods"] == [2]  # one watch serves both
    finally:
        await view.stop()
        await full.stop()


async def test_wait_synced_before_start_waits_for_the_start(api, clients):
    informer = SharedInformer(clients[0], PODS)
    waiting = asyncio.create_task(informer.wait_synced(10))
    await asyncio.sleep(0)
    assert not waiting.done() and informer.list() == [] and informer.get("default/x") is None
    informer.start()
    try:
        await waiting
        assert informer.synced
    finally:
        await informer.stop()


async def test_cached_objects_come_without_managed_fields_and_updates_from_them_keep_ownership(api, clients):
    # (and with their short strings interned: one string object for a value cached many times)
    a, b = clients
    await a.create(PODS, pod("listed", nodeName="n1"))
    informer = started(a)
    try:
        await informer.wait_synced(10)
        await a.create(PODS, pod("watched"))
        await wait_until(lambda: informer.get("default/watched") is not None)
        for name in ("listed", "watched"):  # from the initial list and from the watch
            assert "managedFields" not in informer.get(f"default/{name}")["metadata"]
            assert (await a.get(PODS, name, "default"))["metadata"]["managedFields"]  # the server keeps it
        listed, watched = informer.get("default/listed"), informer.get("default/watched")
        assert listed["spec"]["containers"][0]["image"] is watched["spec"]["containers"][0]["image"]
        assert listed["metadata"]["namespace"] is watched["metadata"]["namespace"]
        # A component's update from a copy of its cached object: the stored ownership stays, and
        # the component's own change is recorded as its own.
        before = (await b.get(PODS, "watched", "default"))["metadata"]["managedFields"]
        cached = informer.get("default/watched")
        change = {**cached, "metadata": {**cached["metadata"], "labels": {"tier": "web"}}}
        updated = await b.update(PODS, change, "default")
        managers = {e["manager"] for e in updated["metadata"]["managedFields"]}
        assert {e["manager"] for e in before} <= managers and "pyctl-b" in managers
        assert "managedFields" not in informer.get("default/watched")["metadata"]
        await wait_until(lambda: (informer.get("default/watched")["metadata"].get("labels") or {}) == {"tier": "web"})
        assert "managedFields" not in informer.get("default/watched")["metadata"]
    finally:
        await informer.stop()
