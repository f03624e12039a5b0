"""The Service table reaches every agent: real etcd, API server, gateway and hollow agents on
loopback. Hollow agents program no iptables; what they hold is what a real agent's proxy
programs (tests/e2e/test_services.py does that)."""

from __future__ import annotations

import pytest

from agent.hollow import hollow_agent
from agent.session import SessionConfig

from ..cluster import wait_until
from .test_gateway import gateway  # noqa: F401 (the fixture)

SESSION = SessionConfig(backoff_base=0.05, backoff_max=0.5)
NS = "/api/v1/namespaces/default"


@pytest.fixture
async def two_agents(gateway):  # noqa: F811
    agents = [hollow_agent(gateway.address, f"n{i}", host_ip="127.0.0.1", session_config=SESSION,
                           listen=None).start() for i in (1, 2)]
    yield agents
    for a in agents:
        await a.stop()


def table_of(agent) -> dict[str, tuple[str, list]]:
    """{ns/name: (clusterIP, [(port name, port, [(ip, port), ...])])} the agent holds, but the API
    server's own `default/kubernetes` (there whatever the test does)."""
    t = agent.session.services
    if t is None:
        return {}
    return {f"{s.namespace}/{s.name}": (s.cluster_ip, [(p.name, p.port, [(b.ip, b.port) for b in p.backends])
                                                        for p in s.ports]) for s in t.services
            if (s.namespace, s.name) != ("default", "kubernetes")}


def endpoints(*ips: str) -> dict:
    return {"apiVersion": "v1", "kind": "Endpoints", "metadata": {"name": "web"},
            "subsets": [{"addresses": [{"ip": ip} for ip in ips],
                         "notReadyAddresses": [{"ip": "10.244.9.9"}],
                         "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}]}]}


async def test_agents_receive_services_and_ready_endpoints_and_their_changes(client, two_agents):
    a, b = two_agents
    await wait_until(lambda: a.session.services is not None and b.session.services is not None, 20)
    assert a.session.services.service_cidr == "10.96.0.0/16"
    code, svc = await client.request("POST", f"{NS}/services", {
        "apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
        "spec": {"selector": {"app": "web"}, "ports": [{"name": "http", "port": 80, "targetPort": 8080}]}})
    assert code == 201, svc
    ip = svc["spec"]["clusterIP"]
    code, _ = await client.request("POST", f"{NS}/endpoints", endpoints("10.244.1.2", "10.244.2.2"))
    assert code == 201
    want = {"default/web": (ip, [("http", 80, [("10.244.1.2", 8080), ("10.244.2.2", 8080)])])}
    for agent in (a, b):
        await wait_until(lambda: table_of(agent) == want, 20)  # not-ready addresses are left out

    code, _ = await client.request("PUT", f"{NS}/endpoints/web", endpoints("10.244.2.2"))
    assert code == 200
    await wait_until(lambda: table_of(a) == {"default/web": (ip, [("http", 80, [("10.244.2.2", 8080)])])}, 20)

    code, _ = await client.request("DELETE", f"{NS}/services/web")
    assert code == 200
    await wait_until(lambda: table_of(a) == {} and table_of(b) == {}, 20)


async def test_a_reconnecting_agent_gets_the_whole_table_again(client, gateway):  # noqa: F811
    code, svc = await client.request("POST", f"{NS}/services", {
        "apiVersion": "v1", "kind": "Service", "metadata": {"name": "db"},
        "spec": {"clusterIP": "None", "selector": {"app": "db"}, "ports": [{"port": 5432}]}})
    assert code == 201
    agent = hollow_agent(gateway.address, "late", host_ip="127.0.0.1", session_config=SESSION, listen=None).start()
    try:
        await wait_until(lambda: table_of(agent) == {"default/db": ("None", [("", 5432, [])])}, 20)
    finally:
        await agent.stop()
