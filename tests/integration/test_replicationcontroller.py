"""ReplicationControllers: the ReplicaSet controller's code over the v1 kind with a plain label
selector, against the real API server, scheduler and hollow agents (see test_replicaset_controller)."""

from __future__ import annotations

import pytest

from controlplane.client import ApiClient
from controlplane.controllers.replicationcontroller import replication_controller

from ..cluster import wait_until
from .test_replicaset_controller import apiclient, nodes, pods_of  # noqa: F401 - fixtures

RCS = "/api/v1/namespaces/default/replicationcontrollers"
MERGE = {"Content-Type": "application/merge-patch+json"}


@pytest.fixture
async def rc_controller(api):
    client = ApiClient(api.url, user_agent="replicationcontroller-controller")
    controller = replication_controller(client)
    await controller.start()
    yield controller
    await controller.stop()
    await client.close()


def rc(name: str, replicas: int) -> dict:
    """As the old manifests write them: no selector (it defaults to the template's labels)."""
    return {"apiVersion": "v1", "kind": "ReplicationController", "metadata": {"name": name},
            "spec": {"replicas": replicas, "template": {"metadata": {"labels": {"app": name}},
                                                        "spec": {"containers": [{"name": "c", "image": "busybox"}]}}}}


async def ready(client, apiclient, name: str, n: int) -> bool:  # noqa: F811
    _, body = await client.request("GET", f"{RCS}/{name}")
    st = body.get("status") or {}
    return len(await pods_of(apiclient, name)) == n and st.get("replicas") == n and st.get("readyReplicas", 0) == n


async def test_rc_keeps_its_replicas_and_scales(client, apiclient, nodes, rc_controller):  # noqa: F811
    status, created = await client.request("POST", RCS, rc("old", 3))
    assert status == 201
    assert created["spec"]["selector"] == {"app": "old"} and created["metadata"]["labels"] == {"app": "old"}
    assert created["status"] == {"replicas": 0}
    await wait_until(lambda: ready(client, apiclient, "old", 3), timeout=30)
    for p in await pods_of(apiclient, "old"):
        ref, = p["metadata"]["ownerReferences"]
        assert (ref["apiVersion"], ref["kind"], ref["name"]) == ("v1", "ReplicationController", "old")
    status, scale = await client.request("GET", f"{RCS}/old/scale")
    assert status == 200 and scale["status"] == {"replicas": 3, "selector": "app=old"}
    assert (await client.request("PATCH", f"{RCS}/old/scale", {"spec": {"replicas": 1}}, headers=MERGE))[0] == 200
    await wait_until(lambda: ready(client, apiclient, "old", 1), timeout=30)


async def test_rc_adopts_a_matching_orphan(client, apiclient, rc_controller):  # noqa: F811
    orphan = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "loose", "labels": {"app": "keep"}},
              "spec": {"containers": [{"name": "c", "image": "busybox"}]}}
    await client.request("POST", "/api/v1/namespaces/default/pods", orphan)
    await client.request("POST", RCS, rc("keep", 2))
    await wait_until(lambda: _count(apiclient, "keep", 2), timeout=15)
    _, pod = await client.request("GET", "/api/v1/namespaces/default/pods/loose")
    assert pod["metadata"]["ownerReferences"][0]["kind"] == "ReplicationController"


async def test_rc_rejects_a_selector_that_misses_its_template(client):
    body = rc("bad", 1)
    body["spec"]["selector"] = {"app": "other"}
    status, err = await client.request("POST", RCS, body)
    assert status == 422
    assert err["details"]["causes"] == [{
        "reason": "FieldValueInvalid", "field": "spec.template.metadata.labels",
        "message": 'Invalid value: map[string]string{"app":"bad"}: `selector` does not match template `labels`'}]


async def _count(apiclient, app: str, n: int) -> bool:  # noqa: F811
    return len(await pods_of(apiclient, app)) == n
