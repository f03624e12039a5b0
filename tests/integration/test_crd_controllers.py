"""The garbage collector and the namespace controller follow the kinds CRDs add while they run
(they learn them through discovery): ownerReferences to and from custom objects are honoured,
and deleting a namespace deletes its custom objects."""

from __future__ import annotations

import pytest

from controlplane.controllers.garbage_collector import GarbageCollector
from controlplane.controllers.namespace import NamespaceConfig, run_namespace_controller
from controlplane.client import ApiClient

from .crds import create_crd, widget, widget_crd
from ..cluster import wait_until

W = "/apis/example.com/v1/namespaces/default/widgets"
CM = "/api/v1/namespaces/default/configmaps"


def ref(obj: dict) -> dict:
    return {"apiVersion": obj["apiVersion"], "kind": obj["kind"], "name": obj["metadata"]["name"],
            "uid": obj["metadata"]["uid"], "controller": True, "blockOwnerDeletion": True}


async def create(client, path: str, body: dict) -> dict:
    status, obj = await client.request("POST", path, body)
    assert status == 201, obj
    return obj


async def absent(client, path: str) -> bool:
    return (await client.request("GET", path))[0] == 404


@pytest.fixture
async def gc(api):
    # A long period: only the CRD watch can make it notice the new kind in time.
    collector = GarbageCollector(ApiClient(api.url), owns_client=True, discovery_period=600)
    await collector.start()
    yield collector
    await collector.stop()


async def test_owner_references_to_and_from_custom_objects_are_honoured(client, gc):
    await create_crd(client, widget_crd())  # after the collector started
    owner = await create(client, W, widget("owner"))
    cm = await create(client, CM, {"apiVersion": "v1", "kind": "ConfigMap",
                                   "metadata": {"name": "owned-by-widget", "ownerReferences": [ref(owner)]}})
    cm_owner = await create(client, CM, {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "boss"}})
    await create(client, W, {**widget("dependent"), "metadata": {"name": "dependent",
                                                                 "ownerReferences": [ref(cm_owner)]}})
    assert cm["metadata"]["ownerReferences"][0]["kind"] == "Widget"

    assert (await client.request("DELETE", f"{W}/owner"))[0] == 200
    await wait_until(lambda: absent(client, f"{CM}/owned-by-widget"), timeout=20)
    assert (await client.request("DELETE", f"{CM}/boss"))[0] == 200
    await wait_until(lambda: absent(client, f"{W}/dependent"), timeout=20)

    # Foreground: the custom owner waits for its dependent.
    owner = await create(client, W, widget("fg"))
    await create(client, CM, {"apiVersion": "v1", "kind": "ConfigMap",
                              "metadata": {"name": "fg-child", "ownerReferences": [ref(owner)]}})
    status, _ = await client.request("DELETE", f"{W}/fg", {"propagationPolicy": "Foreground"})
    assert status == 200
    await wait_until(lambda: absent(client, f"{W}/fg"), timeout=20)
    assert await absent(client, f"{CM}/fg-child")


async def test_deleting_a_namespace_deletes_its_custom_objects(api, client):
    controller = await run_namespace_controller(api.url, NamespaceConfig(poll_period=0.2))
    try:
        await create_crd(client, widget_crd())
        await create(client, "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace",
                                                    "metadata": {"name": "team"}})
        team = "/apis/example.com/v1/namespaces/team/widgets"
        for name in ("a", "b"):
            await create(client, team, widget(name))
        assert (await client.request("DELETE", "/api/v1/namespaces/team"))[0] == 200
        await wait_until(lambda: absent(client, "/api/v1/namespaces/team"), timeout=20)
        assert (await client.request("GET", team))[1]["items"] == []
    finally:
        await controller.stop()
