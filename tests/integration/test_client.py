"""controlplane.client against the real API server: verbs, typed errors, watch resume, informer."""

from __future__ import annotations

import asyncio

import pytest

from controlplane.client import (AlreadyExists, ApiClient, Conflict, Informer, Invalid, NotFound,
                                 Watcher, resource_path)
from controlplane.resources.registry import lookup
from controlplane.store import Store

from ..cluster import wait_until

PODS = lookup("", "v1", "pods")
NODES = lookup("", "v1", "nodes")
DEPLOYS = lookup("apps", "v1", "deployments")
LEASES = lookup("coordination.k8s.io", "v1", "leases")


def pod(name: str, node: str = "", labels: dict | None = None) -> dict:
    spec: dict = {"containers": [{"name": "c", "image": "busybox"}]}
    if node:
        spec["nodeName"] = node
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": labels or {}},
            "spec": spec}


@pytest.fixture
async def api_client(api):
    c = ApiClient(api.url, user_agent="pyctl-test")
    yield c
    await c.close()


def test_urls_are_built_in_one_place():
    assert resource_path(PODS, "default", "web", "status") == "/api/v1/namespaces/default/pods/web/status"
    assert resource_path(PODS) == "/api/v1/pods"
    assert resource_path(NODES, "ignored", "n1") == "/api/v1/nodes/n1"
    assert resource_path(LEASES, "kube-node-lease", "n1") == \
        "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/n1"


async def test_verbs_and_typed_errors(api_client):
    created = await api_client.create(PODS, pod("a"))
    assert created["metadata"]["namespace"] == "default" and created["metadata"]["uid"]
    with pytest.raises(AlreadyExists) as exc:
        await api_client.create(PODS, pod("a"))
    assert exc.value.status["reason"] == "AlreadyExists" and exc.value.code == 409
    with pytest.raises(NotFound):
        await api_client.get(PODS, "missing")
    bad = pod("b")
    bad["spec"]["containers"] = [{"name": "c"}]  # no image
    with pytest.raises(Invalid):
        await api_client.create(PODS, bad)

    got = await api_client.get(PODS, "a", "default")
    stale = dict(got, metadata=dict(got["metadata"]))
    got["metadata"]["labels"] = {"x": "1"}
    updated = await api_client.update(PODS, got)
    assert updated["metadata"]["labels"] == {"x": "1"}
    stale["metadata"]["labels"] = {"x": "2"}
    with pytest.raises(Conflict):
        await api_client.update(PODS, stale)

    patched = await api_client.patch(PODS, "a", {"metadata": {"labels": {"y": "2"}}})
    assert patched["metadata"]["labels"] == {"x": "1", "y": "2"}
    st = await api_client.patch(PODS, "a", {"status": {"phase": "Running"}}, subresource="status")
    assert st["status"]["phase"] == "Running"
    updated = dict(st, status={"phase": "Succeeded"})
    assert (await api_client.update_status(PODS, updated))["status"]["phase"] == "Succeeded"

    listed = await api_client.list(PODS, "default", label_selector="y=2")
    assert [p["metadata"]["name"] for p in listed.items] == ["a"] and int(listed.resource_version) > 0
    await api_client.delete(PODS, "a")
    with pytest.raises(NotFound):
        await api_client.get(PODS, "a")


async def test_graceful_delete_then_confirmation_with_uid_precondition(api_client):
    created = await api_client.create(PODS, pod("g", node="n1"))
    marked = await api_client.delete(PODS, "g")
    assert marked["metadata"]["deletionTimestamp"]
    with pytest.raises(Conflict):
        await api_client.delete(PODS, "g", grace_period_seconds=0, uid="not-the-uid")
    await api_client.delete(PODS, "g", grace_period_seconds=0, uid=created["metadata"]["uid"])
    with pytest.raises(NotFound):
        await api_client.get(PODS, "g")


async def test_list_follows_continue_tokens(api_client):
    for i in range(7):
        await api_client.create(PODS, pod(f"p{i}"))
    listed = await api_client.list(PODS, limit=3)
    assert sorted(p["metadata"]["name"] for p in listed.items) == [f"p{i}" for i in range(7)]


async def test_watch_lists_then_streams_and_resumes_where_it_left_off(api_client):
    await api_client.create(PODS, pod("a"))
    # The server ends each watch request after 1 s: the watcher resumes from its last
    # resourceVersion every time, so nothing is repeated and nothing is missed.
    watcher = api_client.watch(PODS, "default", timeout_seconds=1)
    seen: list[tuple[str, str]] = []

    async def consume():
        async for ev in watcher:
            seen.append((ev.type, ev.object["metadata"]["name"]))

    task = asyncio.create_task(consume())
    try:
        await wait_until(lambda: ("ADDED", "a") in seen)
        assert watcher.synced.is_set()
        await api_client.create(PODS, pod("b"))
        await asyncio.sleep(1.5)  # across at least one watch request boundary
        await api_client.create(PODS, pod("c"))
        await asyncio.sleep(1.5)
        await api_client.delete(PODS, "a")
        await wait_until(lambda: ("DELETED", "a") in seen, timeout=15)
        assert seen == [("ADDED", "a"), ("ADDED", "b"), ("ADDED", "c"), ("DELETED", "a")]
        assert sorted(watcher.objects) == ["default/b", "default/c"]
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await watcher.aclose()


async def test_watch_resumes_after_an_api_server_restart(api, api_client):
    await api_client.create(PODS, pod("a"))
    watcher = api_client.watch(PODS, "default")
    seen: list[tuple[str, str]] = []

    async def consume():
        async for ev in watcher:
            seen.append((ev.type, ev.object["metadata"]["name"]))

    task = asyncio.create_task(consume())
    try:
        await wait_until(lambda: ("ADDED", "a") in seen)
        await api.stop()
        await api.start()  # same port, same etcd: the watcher reconnects from its resourceVersion
        await api_client.create(PODS, pod("b"))
        await api_client.delete(PODS, "a")
        await wait_until(lambda: ("DELETED", "a") in seen, timeout=15)
        assert seen == [("ADDED", "a"), ("ADDED", "b"), ("DELETED", "a")]
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await watcher.aclose()


async def test_watch_relists_on_410_and_reports_the_difference(etcd, api, api_client):
    first = await api_client.create(PODS, pod("a"))
    await api_client.create(PODS, pod("b"))
    await api_client.create(PODS, pod("c"))
    store = Store([etcd.url])
    try:
        await store.compact(await store.revision())
    finally:
        await store.close()
    await api.stop()
    await api.start()  # a fresh watch cache: the old revision must come from etcd, which compacted it
    watcher = Watcher(api_client, PODS, "default", resource_version=first["metadata"]["resourceVersion"])
    watcher.objects["default/gone"] = pod("gone") | {"metadata": {"name": "gone", "namespace": "default"}}
    events = []
    async for ev in watcher:
        events.append((ev.type, ev.object["metadata"]["name"]))
        if len(events) == 4:
            break
    await watcher.aclose()
    assert sorted(events) == [("ADDED", "a"), ("ADDED", "b"), ("ADDED", "c"), ("DELETED", "gone")]


async def test_informer_cache_and_handlers(api_client):
    await api_client.create(PODS, pod("a", labels={"app": "x"}))
    log: list[tuple] = []
    inf = Informer(api_client, PODS, label_selector="app=x", resync_period=0.2)
    inf.add_handlers(on_add=lambda o: log.append(("add", o["metadata"]["name"])),
                     on_update=lambda old, new: log.append(("update", new["metadata"]["name"])),
                     on_delete=lambda o: log.append(("delete", o["metadata"]["name"])))
    inf.start()
    try:
        await inf.wait_synced(10)
        assert inf.get("default/a") is not None and log[0] == ("add", "a")
        await api_client.create(PODS, pod("b", labels={"app": "x"}))
        await api_client.create(PODS, pod("other"))
        await wait_until(lambda: inf.get("default/b") is not None)
        await api_client.patch(PODS, "b", {"metadata": {"labels": {"app": "y"}}})  # leaves the selection
        await wait_until(lambda: ("delete", "b") in log)
        assert inf.get("default/other") is None and sorted(inf.keys()) == ["default/a"]
        await wait_until(lambda: ("update", "a") in log)  # from resync
        late: list[str] = []
        inf.add_handlers(on_add=lambda o: late.append(o["metadata"]["name"]))
        assert late == ["a"]
    finally:
        await inf.stop()
