"""ServiceLB against the real API server, controllers, gateway and hollow agents: a LoadBalancer
Service gets the addresses of the nodes that serve it, and they follow the nodes (readiness,
labels), the traffic policy (Local: nodes with an endpoint) and the class (another class is
left alone). The addresses are loopback ones the hollow nodes report; no traffic is sent."""

from __future__ import annotations

import json

import pytest

from agent.hollow import hollow_agent
from agent.session import SessionConfig
from controlplane.controllers.manager import ControllerManager
from controlplane.gateway import GatewayConfig, start_gateway
from tests.cluster import wait_until

FAST = GatewayConfig(heartbeat_period=0.2, lease_renew_interval=0.3, status_flush_interval=0.05)
NS = "/api/v1/namespaces/default"
MERGE = {"Content-Type": "application/merge-patch+json"}
IPS = {"n1": "127.0.0.11", "n2": "127.0.0.12", "n3": "127.0.0.13"}


@pytest.fixture
async def nodes(api, client):
    manager = ControllerManager(api.url, leader_election=False, controllers=("servicelb", "nodelifecycle"),
                                node_grace=2.0, node_monitor_period=0.5, eviction_timeout=3600)
    gateway = await start_gateway(api.url, "127.0.0.1:0", FAST)
    agents = {n: hollow_agent(gateway.address, n, host_ip=ip, listen=None,
                              session_config=SessionConfig(backoff_base=0.05, backoff_max=0.5)).start()
              for n, ip in IPS.items()}
    await manager.start()
    try:
        yield agents
    finally:
        for a in agents.values():
            await a.stop()
        await gateway.stop()
        await manager.stop()


async def balancer(client, name: str) -> list[str]:
    _, svc = await client.request("GET", f"{NS}/services/{name}")
    return [i["ip"] for i in ((svc.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []]


def lb(name: str, **spec) -> dict:
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name},
            "spec": {"type": "LoadBalancer", "ports": [{"name": "http", "port": 8080}], **spec}}


async def test_status_follows_serving_nodes_labels_and_policy(client, nodes):
    code, body = await client.request("POST", f"{NS}/services", lb("web"))
    assert code == 201, body
    all_ips = sorted(IPS.values())
    await wait_until(lambda: _eq(balancer(client, "web"), all_ips), timeout=30)
    _, svc = await client.request("GET", f"{NS}/services/web")
    assert svc["status"]["loadBalancer"]["ingress"][0]["ipMode"] == "VIP"
    code, table = await client.request("GET", f"{NS}/services/web",
                                       headers={"Accept": "application/json;as=Table;v=v1;g=meta.k8s.io"})
    assert table["rows"][0]["cells"][3] == ",".join(all_ips)  # EXTERNAL-IP, as kubectl shows it

    # Only the nodes labelled for it, once any is.
    code, _ = await client.request("PATCH", "/api/v1/nodes/n2", data=json.dumps(
        {"metadata": {"labels": {"servicelb.pyctl.io/enabled": "true"}}}), headers=MERGE)
    assert code == 200
    await wait_until(lambda: _eq(balancer(client, "web"), [IPS["n2"]]), timeout=30)
    code, _ = await client.request("PATCH", "/api/v1/nodes/n2", data=json.dumps(
        {"metadata": {"labels": {"servicelb.pyctl.io/enabled": None}}}), headers=MERGE)
    await wait_until(lambda: _eq(balancer(client, "web"), all_ips), timeout=30)

    # Local: only nodes running a ready endpoint.
    code, _ = await client.request("PATCH", f"{NS}/services/web", data=json.dumps(
        {"spec": {"externalTrafficPolicy": "Local"}}), headers=MERGE)
    assert code == 200
    await wait_until(lambda: _eq(balancer(client, "web"), []), timeout=30)
    code, body = await client.request("POST", f"{NS}/endpoints", {
        "apiVersion": "v1", "kind": "Endpoints", "metadata": {"name": "web"},
        "subsets": [{"addresses": [{"ip": "10.244.3.5", "nodeName": "n3"}],
                     "notReadyAddresses": [{"ip": "10.244.1.5", "nodeName": "n1"}],
                     "ports": [{"name": "http", "port": 8080}]}]})
    assert code == 201, body
    await wait_until(lambda: _eq(balancer(client, "web"), [IPS["n3"]]), timeout=30)


async def test_a_node_that_goes_away_stops_serving(client, nodes):
    code, _ = await client.request("POST", f"{NS}/services", lb("web"))
    assert code == 201
    await wait_until(lambda: _eq(balancer(client, "web"), sorted(IPS.values())), timeout=30)
    await nodes["n1"].stop()  # heartbeats stop: NotReady after the grace period
    await wait_until(lambda: _eq(balancer(client, "web"), [IPS["n2"], IPS["n3"]]), timeout=30)


async def test_another_class_and_other_types_are_left_alone(client, nodes):
    code, _ = await client.request("POST", f"{NS}/services", lb("theirs", loadBalancerClass="metallb.io/metallb"))
    assert code == 201
    code, _ = await client.request("POST", f"{NS}/services", lb("ours"))
    assert code == 201
    await wait_until(lambda: _eq(balancer(client, "ours"), sorted(IPS.values())), timeout=30)
    assert await balancer(client, "theirs") == []
    # Turning a LoadBalancer into a NodePort Service clears its balancer status.
    code, body = await client.request("PATCH", f"{NS}/services/ours", data=json.dumps({"spec": {"type": "NodePort"}}),
                                      headers=MERGE)
    assert code == 200 and body["status"] == {"loadBalancer": {}}, body


async def _eq(value, expected) -> bool:
    return (await value) == expected
