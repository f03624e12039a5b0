"""A StatefulSet's stable per-pod DNS names, end to end, as root: real runc pods, the node's
cluster DNS and the whole control plane (see test_services for the node in its own netns).

A headless Service `db` and a StatefulSet `db` of two busybox pods: another pod resolves
`db-0.db.default.svc.cluster.local` and `db-1.db...` (busybox nslookup; its wget has a DNS bug,
issue 17) to those pods' own IPs, and `db.default.svc...` to both; after db-1 is deleted its
replacement has the same name, and the name follows it to its new IP.
"""

from __future__ import annotations

import pytest

from controlplane.controllers.manager import ControllerManager

from ..cluster import wait_until
from .test_exec import agent_exec, joined
from .test_runtime import pytestmark  # noqa: F401  (the root/runc skip)
from .test_services import NS, node, plain_pod, services_node  # noqa: F401  (fixtures)

STS = "/apis/apps/v1/namespaces/default/statefulsets"


@pytest.fixture
async def sts_controller(api):
    manager = ControllerManager(api.url, leader_election=False, controllers=("statefulset",))
    await manager.start()
    yield manager
    await manager.stop()


def statefulset(replicas: int) -> dict:
    labels = {"app": "db"}
    return {"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "db"},
            "spec": {"replicas": replicas, "serviceName": "db", "selector": {"matchLabels": labels},
                     "template": {"metadata": {"labels": labels}, "spec": {
                         "nodeName": "e1", "terminationGracePeriodSeconds": 1,
                         "containers": [{"name": "c", "image": "busybox", "command": ["sleep", "3600"]}]}}}}


async def running(client, name: str) -> bool:
    code, pod = await client.request("GET", f"{NS}/pods/{name}")
    statuses = (pod.get("status") or {}).get("containerStatuses") or [] if code == 200 else []
    return any("running" in (s.get("state") or {}) for s in statuses)


async def pod_ip(client, name: str) -> str:
    _, pod = await client.request("GET", f"{NS}/pods/{name}")
    return (pod.get("status") or {}).get("podIP", "") if pod.get("metadata") else ""


async def resolves(port: int, name: str, ip: str) -> bool:
    out = await agent_exec(port, "asker", ["nslookup", name])
    return out[-1].exit_code == 0 and f"Address: {ip}" in joined(out, "stdout").decode()


async def test_each_pod_of_a_statefulset_has_a_stable_dns_name(services_node, sts_controller):  # noqa: F811
    client, agent, _ = services_node
    code, svc = await client.request("POST", f"{NS}/services", {
        "apiVersion": "v1", "kind": "Service", "metadata": {"name": "db"},
        "spec": {"clusterIP": "None", "selector": {"app": "db"}, "ports": [{"name": "sql", "port": 5432}]}})
    assert code == 201, svc
    assert (await client.request("POST", STS, statefulset(2)))[0] == 201
    code, body = await client.request("POST", f"{NS}/pods", plain_pod("asker"))
    assert code == 201, body
    for name in ("db-0", "db-1", "asker"):
        await wait_until(lambda name=name: running(client, name), timeout=120)
    port = agent.registration.agent_port
    ips = {name: await wait_until(lambda name=name: pod_ip(client, name), timeout=30) for name in ("db-0", "db-1")}
    for name, ip in ips.items():
        await wait_until(lambda name=name, ip=ip: resolves(port, f"{name}.db.default.svc.cluster.local", ip), timeout=60)
    out = joined(await agent_exec(port, "asker", ["nslookup", "db.default.svc.cluster.local"]), "stdout").decode()
    assert f"Address: {ips['db-0']}" in out and f"Address: {ips['db-1']}" in out
    out = await agent_exec(port, "asker", ["nslookup", "db-7.db.default.svc.cluster.local"])
    assert out[-1].exit_code != 0  # no such pod: NXDOMAIN

    # db-1 is deleted: the StatefulSet makes a new db-1, and its name follows it.
    _, old = await client.request("GET", f"{NS}/pods/db-1")
    assert (await client.request("DELETE", f"{NS}/pods/db-1"))[0] == 200

    async def replaced() -> str:
        _, pod = await client.request("GET", f"{NS}/pods/db-1")
        fresh = pod.get("metadata", {}).get("uid") not in (None, old["metadata"]["uid"])
        return (pod.get("status") or {}).get("podIP", "") if fresh and await running(client, "db-1") else ""
    new_ip = await wait_until(replaced, timeout=120)
    await wait_until(lambda: resolves(port, "db-1.db.default.svc.cluster.local", new_ip), timeout=60)
