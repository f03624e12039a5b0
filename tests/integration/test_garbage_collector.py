"""Garbage collector against the real API server: background, foreground and orphan deletion.

The ownership chain (Deployment -> ReplicaSet -> Pods) is written by the test itself, as the
workload controllers would write it, so only the collector acts on it."""

from __future__ import annotations

import pytest

from controlplane.controllers.garbage_collector import run_garbage_collector

from ..cluster import wait_until

NS = "/api/v1/namespaces/default"
APPS = "/apis/apps/v1/namespaces/default"
LABELS = {"app": "web"}


@pytest.fixture
async def gc(api):
    collector = await run_garbage_collector(api.url)
    yield collector
    await collector.stop()


def ref(obj: dict, block: bool = True) -> dict:
    return {"apiVersion": obj["apiVersion"], "kind": obj["kind"], "name": obj["metadata"]["name"],
            "uid": obj["metadata"]["uid"], "controller": True, "blockOwnerDeletion": block}


def template() -> dict:
    return {"metadata": {"labels": LABELS}, "spec": {"containers": [{"name": "c", "image": "busybox"}]}}


async def create(client, path: str, body: dict) -> dict:
    status, obj = await client.request("POST", path, body)
    assert status == 201, obj
    return obj


async def chain(client, name: str, pods: int = 2) -> tuple[dict, dict]:
    """A Deployment owning a ReplicaSet owning `pods` pods."""
    selector = {"matchLabels": LABELS}
    deploy = await create(client, f"{APPS}/deployments", {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
        "spec": {"replicas": pods, "selector": selector, "template": template()}})
    rs = await create(client, f"{APPS}/replicasets", {
        "apiVersion": "apps/v1", "kind": "ReplicaSet",
        "metadata": {"name": f"{name}-rs", "ownerReferences": [ref(deploy)]},
        "spec": {"replicas": pods, "selector": selector, "template": template()}})
    for i in range(pods):
        await create(client, f"{NS}/pods", {
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": f"{name}-pod-{i}", "labels": LABELS, "ownerReferences": [ref(rs)]},
            "spec": template()["spec"]})
    return deploy, rs


async def exists(client, path: str) -> bool:
    return (await client.request("GET", path))[0] == 200


async def names(client, path: str) -> list[str]:
    _, body = await client.request("GET", path)
    return sorted(o["metadata"]["name"] for o in body["items"])


async def test_background_deletion_of_a_replicaset_removes_its_pods(client, gc):
    _, rs = await chain(client, "bg")
    bystander = await create(client, f"{NS}/pods", {
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "bystander", "labels": LABELS},
        "spec": template()["spec"]})
    # A pod with two owners: it stays while one of them does.
    other = await create(client, f"{NS}/configmaps", {"apiVersion": "v1", "kind": "ConfigMap",
                                                      "metadata": {"name": "other-owner"}})
    await create(client, f"{NS}/pods", {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "shared", "ownerReferences": [ref(rs, block=False), ref(other, block=False)]},
        "spec": template()["spec"]})

    assert (await client.request("DELETE", f"{APPS}/replicasets/bg-rs"))[0] == 200

    async def only_survivors():
        return await names(client, f"{NS}/pods") == ["bystander", "shared"]
    await wait_until(only_survivors, timeout=10)

    async def shared_lost_dead_owner():
        _, pod = await client.request("GET", f"{NS}/pods/shared")
        return [r["uid"] for r in pod["metadata"].get("ownerReferences", [])] == [other["metadata"]["uid"]]
    await wait_until(shared_lost_dead_owner, timeout=10)
    assert bystander["metadata"]["uid"]
    assert await exists(client, f"{APPS}/deployments/bg")  # owners are never collected for dependents


async def test_foreground_deletion_removes_dependents_before_the_owner(client, gc):
    await chain(client, "fg")
    status, deploy = await client.request("DELETE", f"{APPS}/deployments/fg", {"propagationPolicy": "Foreground"})
    assert status == 200 and "foregroundDeletion" in deploy["metadata"]["finalizers"]

    async def all_gone():
        deploy_there = await exists(client, f"{APPS}/deployments/fg")
        rs_there = await exists(client, f"{APPS}/replicasets/fg-rs")
        pods = await names(client, f"{NS}/pods")
        # The owner must never be gone while a dependent remains.
        assert deploy_there or (not rs_there and not pods), (rs_there, pods)
        return not deploy_there and not rs_there and not pods
    await wait_until(all_gone, timeout=15, interval=0.01)


async def test_orphan_deletion_leaves_dependents_without_owner_references(client, gc):
    _, rs = await chain(client, "or")
    status, _ = await client.request("DELETE", f"{APPS}/replicasets/or-rs", {"propagationPolicy": "Orphan"})
    assert status == 200

    async def rs_gone():
        return not await exists(client, f"{APPS}/replicasets/or-rs")
    await wait_until(rs_gone, timeout=10)
    for i in range(2):
        _, pod = await client.request("GET", f"{NS}/pods/or-pod-{i}")
        assert not pod["metadata"].get("ownerReferences"), pod["metadata"]
    assert await exists(client, f"{APPS}/deployments/or")


async def test_collector_started_late_finds_dangling_dependents_and_pending_finalizers(client, api):
    """Restart at any point: whatever was left half done is found again from observed state."""
    await chain(client, "late")
    await chain(client, "late-fg", pods=1)
    assert (await client.request("DELETE", f"{APPS}/replicasets/late-rs"))[0] == 200
    assert (await client.request("DELETE", f"{APPS}/deployments/late-fg",
                                 {"propagationPolicy": "Foreground"}))[0] == 200
    assert await names(client, f"{NS}/pods") == ["late-fg-pod-0", "late-pod-0", "late-pod-1"]

    collector = await run_garbage_collector(api.url)
    try:
        async def settled():
            return (await names(client, f"{NS}/pods") == [] and
                    not await exists(client, f"{APPS}/deployments/late-fg"))
        await wait_until(settled, timeout=15)
    finally:
        await collector.stop()
