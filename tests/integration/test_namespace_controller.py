"""Namespace controller against the real API server: deleting a namespace empties it, reports
what holds it up, and then the namespace itself goes."""

from __future__ import annotations

import pytest

from controlplane.controllers.namespace import NamespaceConfig, run_namespace_controller

from ..cluster import wait_until

TEAM = "/api/v1/namespaces/team"
APPS = "/apis/apps/v1/namespaces/team"
HOLD = "example.com/hold"


@pytest.fixture
async def controller(api):
    c = await run_namespace_controller(api.url, NamespaceConfig(poll_period=0.2))
    yield c
    await c.stop()


async def create(client, path: str, body: dict) -> dict:
    status, obj = await client.request("POST", path, body)
    assert status == 201, obj
    return obj


async def populate(client) -> None:
    await create(client, "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace",
                                                "metadata": {"name": "team"}})
    labels = {"app": "web"}
    tmpl = {"metadata": {"labels": labels}, "spec": {"containers": [{"name": "c", "image": "busybox"}]}}
    await create(client, f"{APPS}/deployments", {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
        "spec": {"replicas": 2, "selector": {"matchLabels": labels}, "template": tmpl}})
    for i in range(3):
        await create(client, f"{TEAM}/pods", {"apiVersion": "v1", "kind": "Pod",
                                              "metadata": {"name": f"web-{i}", "labels": labels},
                                              "spec": tmpl["spec"]})
    await create(client, f"{TEAM}/services", {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
                                              "spec": {"selector": labels, "ports": [{"port": 80}]}})
    await create(client, f"{TEAM}/configmaps", {"apiVersion": "v1", "kind": "ConfigMap",
                                                "metadata": {"name": "held", "finalizers": [HOLD]}})


async def count_left(client) -> int:
    total = 0
    for path in (f"{TEAM}/pods", f"{TEAM}/services", f"{TEAM}/configmaps", f"{APPS}/deployments"):
        _, body = await client.request("GET", path)
        total += len(body["items"])
    return total


async def conditions(client) -> dict[str, dict]:
    status, ns = await client.request("GET", TEAM)
    return {c["type"]: c for c in ns.get("status", {}).get("conditions", [])} if status == 200 else {}


async def test_deleting_a_namespace_removes_everything_in_it_then_the_namespace(client, controller):
    await populate(client)
    status, ns = await client.request("DELETE", TEAM)
    assert status == 200 and ns["status"]["phase"] == "Terminating"
    status, body = await client.request("POST", f"{TEAM}/configmaps", {"apiVersion": "v1", "kind": "ConfigMap",
                                                                      "metadata": {"name": "late"}})
    assert status == 403, body

    # Everything goes except the object a finalizer holds; the namespace says so and waits.
    async def held_up():
        conds = await conditions(client)
        finalizers = conds.get("NamespaceFinalizersRemaining", {})
        return await count_left(client) == 1 and finalizers.get("status") == "True" and conds
    conds = await wait_until(held_up, timeout=15)
    assert HOLD in conds["NamespaceFinalizersRemaining"]["message"]
    assert conds["NamespaceContentRemaining"]["status"] == "True"
    assert "configmaps has 1 resource instances" in conds["NamespaceContentRemaining"]["message"]
    assert conds["NamespaceDeletionContentFailure"]["status"] == "False"
    assert (await client.request("GET", TEAM))[1]["status"]["phase"] == "Terminating"

    # Whoever owns the finalizer lets go: the object goes, then the namespace.
    _, held = await client.request("GET", f"{TEAM}/configmaps/held")
    held["metadata"]["finalizers"] = []
    assert (await client.request("PUT", f"{TEAM}/configmaps/held", held))[0] == 200

    async def namespace_gone():
        return (await client.request("GET", TEAM))[0] == 404
    await wait_until(namespace_gone, timeout=15)

    # The name can be used again, from scratch.
    await create(client, "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace",
                                                "metadata": {"name": "team"}})
    assert await count_left(client) == 0


async def test_other_namespaces_are_untouched(client, controller):
    await populate(client)
    await create(client, "/api/v1/namespaces/default/configmaps", {"apiVersion": "v1", "kind": "ConfigMap",
                                                                   "metadata": {"name": "keep"}})
    _, held = await client.request("GET", f"{TEAM}/configmaps/held")
    held["metadata"]["finalizers"] = []
    assert (await client.request("PUT", f"{TEAM}/configmaps/held", held))[0] == 200
    assert (await client.request("DELETE", TEAM))[0] == 200

    async def namespace_gone():
        return (await client.request("GET", TEAM))[0] == 404
    await wait_until(namespace_gone, timeout=15)
    assert (await client.request("GET", "/api/v1/namespaces/default/configmaps/keep"))[0] == 200
