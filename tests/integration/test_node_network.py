"""Pod networking across nodes: podCIDRs from the node IPAM controller, delivered with every
other node's route through the gateway, against real etcd, API server, controller manager,
gateway and hollow agents over gRPC on loopback. Hollow agents program no kernel route; what
they received is what a real agent would program (tests/e2e/test_routes.py does that)."""

from __future__ import annotations

import ipaddress

import grpc
import pytest

from pyctl_proto import node_pb2 as pb

from agent.hollow import hollow_agent
from agent.node import Agent
from agent.nodeinfo import hollow_registration
from agent.runtime.hollow import VERSION, HollowRuntime
from agent.session import SessionConfig
from controlplane.controllers.manager import ControllerManager

from ..cluster import wait_until
from .test_gateway import PODS, gateway  # noqa: F401 (gateway: the fixture)
from .test_gateway_protocol import RawAgent

SESSION = SessionConfig(backoff_base=0.05, backoff_max=0.5)


@pytest.fixture
async def ipam(api):
    """Start (and restart) the node IPAM controller as the controller manager runs it."""
    running: list[ControllerManager] = []

    async def start(**config) -> ControllerManager:
        manager = ControllerManager(api.url, leader_election=False, controllers=("nodeipam",), **config)
        await manager.start()
        running.append(manager)
        return manager

    yield start
    for m in running:
        await m.stop()


@pytest.fixture
async def agents(gateway):
    started: dict[str, Agent] = {}

    def start(name: str, ip: str, **kw) -> Agent:
        if kw:
            agent = Agent(gateway.address, hollow_registration(name, VERSION, ip), HollowRuntime(name),
                          host_ip=ip, session_config=SESSION, listen=None, **kw)
        else:
            agent = hollow_agent(gateway.address, name, host_ip=ip, session_config=SESSION, listen=None)
        started[name] = agent.start()
        return agent

    yield start
    for a in started.values():
        await a.stop()


async def pod_cidr(client, node: str) -> str:
    status, body = await client.request("GET", f"/api/v1/nodes/{node}")
    if status != 200:
        return ""
    spec = body.get("spec") or {}
    assert spec.get("podCIDRs", [spec.get("podCIDR")]) == [spec.get("podCIDR")]
    return spec.get("podCIDR", "")


async def all_cidrs(client, nodes) -> dict[str, str] | None:
    got = {n: await pod_cidr(client, n) for n in nodes}
    return got if all(got.values()) else None


def received(agent: Agent) -> tuple[str, dict[str, tuple[str, str]]]:
    """(own podCIDR, {node: (podCIDR, node IP)}) from the agent's latest NodeRoutes."""
    m = agent.session.network
    if m is None:
        return "", {}
    return m.pod_cidr, {r.node: (r.pod_cidr, r.node_ip) for r in m.routes}


async def test_nodes_get_distinct_cidrs_kept_across_restart_and_agents_get_each_others_routes(
        client, ipam, agents):
    ips = {"net-a": "10.250.0.1", "net-b": "10.250.0.2", "net-c": "10.250.0.3"}
    started = {n: agents(n, ip) for n, ip in ips.items()}
    manager = await ipam()
    cidrs = await wait_until(lambda: all_cidrs(client, ips), timeout=20)
    assert len(set(cidrs.values())) == 3
    cluster = ipaddress.ip_network("10.244.0.0/16")
    assert all(ipaddress.ip_network(c).subnet_of(cluster) and c.endswith("/24") for c in cidrs.values())

    def routes_complete(nodes) -> bool:
        return all(received(started[n]) == (cidrs[n], {o: (cidrs[o], ips[o]) for o in nodes if o != n})
                   for n in nodes)
    await wait_until(lambda: routes_complete(ips), timeout=20)

    # A new controller (restart, or another leader) rebuilds its map from the Nodes: nobody
    # is renumbered and a new node gets a subnet nobody has.
    await manager.stop()
    await ipam()
    ips["net-d"] = "10.250.0.4"
    started["net-d"] = agents("net-d", ips["net-d"])
    cidrs = await wait_until(lambda: all_cidrs(client, ips), timeout=20)
    assert len(set(cidrs.values())) == 4
    assert {n: cidrs[n] for n in ("net-a", "net-b", "net-c")} == \
        {n: c for n, c in cidrs.items() if n != "net-d"}
    await wait_until(lambda: routes_complete(ips), timeout=20)

    # A node that is gone takes its route with it.
    await started.pop("net-c").stop()
    assert (await client.request("DELETE", "/api/v1/nodes/net-c"))[0] == 200
    del ips["net-c"]
    await wait_until(lambda: routes_complete(ips), timeout=20)


async def test_agent_pod_cidr_is_kept_and_an_exhausted_range_waits_for_a_free_one(client, ipam, agents):
    await ipam(cluster_cidr="10.244.0.0/23")  # room for two /24s
    fixed = agents("fixed", "10.250.1.1", pod_cidr="10.244.0.0/24")  # as `pyctl-agent --pod-cidr`
    await wait_until(lambda: pod_cidr(client, "fixed"), timeout=20)
    assert await pod_cidr(client, "fixed") == "10.244.0.0/24"
    agents("second", "10.250.1.2")
    assert await wait_until(lambda: pod_cidr(client, "second"), timeout=20) == "10.244.1.0/24"

    agents("third", "10.250.1.3")

    async def unavailable():
        status, node = await client.request("GET", "/api/v1/nodes/third")
        return status == 200 and next((c for c in (node.get("status") or {}).get("conditions") or []
                     if c["type"] == "NetworkUnavailable" and c["status"] == "True"), None)
    cond = await wait_until(unavailable, timeout=20)
    assert cond["reason"] == "NoCIDRAvailable" and "10.244.0.0/23" in cond["message"]

    async def warned():
        _, events = await client.request("GET", "/api/v1/namespaces/default/events")
        return [e for e in events["items"] if e["reason"] == "CIDRNotAvailable"
                and e["involvedObject"]["name"] == "third"]
    assert (await wait_until(warned, timeout=20))[0]["type"] == "Warning"
    assert await pod_cidr(client, "third") == ""

    # The fixed node leaves: its subnet is freed and the waiting node gets it.
    await fixed.stop()
    assert (await client.request("DELETE", "/api/v1/nodes/fixed"))[0] == 200
    assert await wait_until(lambda: pod_cidr(client, "third"), timeout=20) == "10.244.0.0/24"
    _, node = await client.request("GET", "/api/v1/nodes/third")
    cond = next(c for c in node["status"]["conditions"] if c["type"] == "NetworkUnavailable")
    assert (cond["status"], cond["reason"]) == ("False", "CIDRAssigned")


async def test_an_agent_that_learns_its_cidr_starts_no_pod_before_it_has_one(client, ipam, agents):
    learned: list[tuple[str, str]] = []
    agent = agents("learner", "10.250.2.1", learn_pod_cidr=True,
                   on_pod_cidr=lambda cidr, cluster: learned.append((cidr, cluster)))
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "early"},
           "spec": {"nodeName": "learner", "containers": [{"name": "c", "image": "busybox"}]}}
    await wait_until(lambda: agent.session.connected.is_set(), timeout=20)
    assert (await client.request("POST", PODS, pod))[0] == 201
    await wait_until(lambda: agent.session.waiting_for_pod_cidr, timeout=20)  # the assignment came and is held
    assert agent.pods.workers == {} and learned == []

    await ipam()
    cidr = await wait_until(lambda: pod_cidr(client, "learner"), timeout=20)

    async def running():
        _, body = await client.request("GET", f"{PODS}/early")
        return body.get("status", {}).get("phase") == "Running"
    await wait_until(running, timeout=20)
    assert learned == [(cidr, "10.244.0.0/16")]


async def test_an_agents_own_pod_cidr_is_recorded_and_sent_before_any_assignment(client, gateway):
    a, bad = RawAgent(gateway.address), RawAgent(gateway.address)
    try:
        await a.call.write(pb.AgentMessage(register=pb.Register(node_name="raw-1", pod_cidr="10.244.7.0/24")))
        assert (await a.read()).WhichOneof("msg") == "registered"
        first = await a.read()
        assert first.WhichOneof("msg") == "node_routes" and first.node_routes.cluster_cidr == "10.244.0.0/16"
        assert (await pod_cidr(client, "raw-1")) == "10.244.7.0/24"
        if not first.node_routes.pod_cidr:  # the gateway's Node cache was behind: an update follows
            assert (await a.next_of("node_routes")).pod_cidr == "10.244.7.0/24"

        await bad.call.write(pb.AgentMessage(register=pb.Register(node_name="raw-2", pod_cidr="10.244.7.0/33")))
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await bad.read()
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "register.pod_cidr" in err.value.details()
        assert (await client.request("GET", "/api/v1/nodes/raw-2"))[0] == 404
    finally:
        await a.close()
        await bad.close()


async def test_two_nodes_claiming_one_pod_cidr_get_a_warning(client, ipam, agents):
    await ipam()
    agents("dup-1", "10.250.3.1", pod_cidr="10.244.9.0/24")
    await wait_until(lambda: pod_cidr(client, "dup-1"), timeout=20)
    agents("dup-2", "10.250.3.2", pod_cidr="10.244.9.128/25")

    async def warned():
        _, events = await client.request("GET", "/api/v1/namespaces/default/events")
        return [e for e in events["items"] if e["reason"] == "CIDRConflict" and e["involvedObject"]["name"] == "dup-2"]
    event = (await wait_until(warned, timeout=20))[0]
    assert event["type"] == "Warning"
    assert event["message"] == "podCIDR 10.244.9.128/25 overlaps the podCIDR of node(s) dup-1"
