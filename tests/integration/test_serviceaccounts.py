"""ServiceAccounts: the kind is served, every namespace gets `default`, pods name it.

Against real etcd, the API server and the controller manager running only the
serviceaccount controller; kubectl lists the accounts. No token is mounted yet.
"""

from __future__ import annotations

import pytest

from controlplane.controllers.manager import ControllerManager

from ..cluster import wait_until
from .kubectl import Kubectl

SA = "/api/v1/namespaces/{ns}/serviceaccounts"
POD = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
       "spec": {"containers": [{"name": "c", "image": "busybox"}]}}


@pytest.fixture
async def controller(api):
    manager = ControllerManager(api.url, leader_election=False, controllers=("serviceaccount",))
    await manager.start()
    yield manager
    await manager.stop()


async def names(client, ns: str) -> list[str]:
    code, body = await client.request("GET", SA.format(ns=ns))
    return [o["metadata"]["name"] for o in body["items"]] if code == 200 else []


async def test_every_namespace_gets_a_default_service_account(api, client, controller, tmp_path):
    await wait_until(lambda: names(client, "default"), timeout=30)  # namespaces made at API start
    code, _ = await client.request("POST", "/api/v1/namespaces",
                                   {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team-a"}})
    assert code == 201
    assert await wait_until(lambda: names(client, "team-a"), timeout=30) == ["default"]
    # Deleted, it comes back (with a new uid).
    code, first = await client.request("GET", SA.format(ns="team-a") + "/default")
    assert (await client.request("DELETE", SA.format(ns="team-a") + "/default"))[0] == 200

    async def remade():
        code, again = await client.request("GET", SA.format(ns="team-a") + "/default")
        return code == 200 and again["metadata"]["uid"] != first["metadata"]["uid"]
    await wait_until(remade, timeout=30)
    # Users make their own; kubectl shows them with the Secrets column.
    sa = {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "builder"}}
    assert (await client.request("POST", SA.format(ns="team-a"), sa))[0] == 201
    lines = (await Kubectl(api.url, tmp_path).ok("get", "sa", "-n", "team-a")).splitlines()
    assert lines[0].split() == ["NAME", "SECRETS", "AGE"]
    assert [line.split()[:2] for line in lines[1:]] == [["builder", "0"], ["default", "0"]]


async def test_pods_name_the_default_service_account_unless_told(client):
    code, pod = await client.request("POST", "/api/v1/namespaces/default/pods", POD)
    assert code == 201
    assert (pod["spec"]["serviceAccountName"], pod["spec"]["serviceAccount"]) == ("default", "default")
    other = {**POD, "metadata": {"name": "q"}, "spec": {**POD["spec"], "serviceAccountName": "builder"}}
    code, pod = await client.request("POST", "/api/v1/namespaces/default/pods", other)
    assert code == 201 and pod["spec"]["serviceAccountName"] == "builder"
