"""Node lifecycle: an agent that goes away makes its node NotReady, then its pods go;
an agent that comes back makes it Ready again. Real API server, gateway and hollow agents."""

from __future__ import annotations

import pytest

from agent.hollow import run_hollow_agents, stop_agents
from agent.pods import PodConfig
from agent.session import SessionConfig
from controlplane.controllers.node_lifecycle import (UNREACHABLE, NodeLifecycleConfig, eviction_delay,
                                                     run_node_lifecycle)
from controlplane.gateway import start_gateway

from ..cluster import wait_until
from .test_gateway import FAST, PODS, node_ready, pod

LIFECYCLE = NodeLifecycleConfig(grace_period=2.0, eviction_timeout=3.0, monitor_period=0.3)
AGENT_OPTS = dict(pod_config=PodConfig(resync_period=0.5),
                  session_config=SessionConfig(backoff_base=0.05, backoff_max=0.5))


@pytest.fixture
async def cluster(api):
    gateway = await start_gateway(api.url, "127.0.0.1:0", FAST)
    controller = await run_node_lifecycle(api.url, LIFECYCLE)
    yield gateway
    await controller.stop()
    await gateway.stop()


async def node_state(client, name: str) -> tuple[str | None, bool]:
    """(Ready status, has the unreachable taint)."""
    _, node = await client.request("GET", f"/api/v1/nodes/{name}")
    ready = next((c["status"] for c in node.get("status", {}).get("conditions", []) if c["type"] == "Ready"), None)
    tainted = any(t["key"] == UNREACHABLE for t in node.get("spec", {}).get("taints") or [])
    return ready, tainted


async def test_lost_node_goes_not_ready_then_its_pods_are_evicted_and_it_can_come_back(client, cluster):
    agents = await run_hollow_agents(cluster.address, ["node-a", "node-b"], **AGENT_OPTS)
    try:
        for n in ("node-a", "node-b"):
            await wait_until(lambda n=n: node_ready(client, n), timeout=15)
        for name, node in (("on-a", "node-a"), ("on-b", "node-b")):
            assert (await client.request("POST", PODS, pod(name, node)))[0] == 201
        forever = pod("stays", "node-a")
        forever["spec"]["tolerations"] = [{"key": UNREACHABLE, "operator": "Exists", "effect": "NoExecute"}]
        assert (await client.request("POST", PODS, forever))[0] == 201

        await wait_until(lambda: _pod_ready(client, "on-a"), timeout=10)
        await agents[0].stop()  # node-a's agent dies: no more heartbeats, no more lease renewals
        await wait_until(lambda: _is(client, "node-a", ("Unknown", True)), timeout=15)
        # Before the eviction timeout: still there, but no longer Ready.
        await wait_until(lambda: _pod_ready(client, "stays", want="False"), timeout=10)

        async def evicted():
            return (await client.request("GET", f"{PODS}/on-a"))[0] == 404
        await wait_until(evicted, timeout=15)
        assert (await client.request("GET", f"{PODS}/on-b"))[0] == 200  # the healthy node keeps its pod
        assert (await client.request("GET", f"{PODS}/stays"))[0] == 200  # tolerates the taint forever
        assert await node_state(client, "node-b") == ("True", False)

        agents += await run_hollow_agents(cluster.address, ["node-a"], **AGENT_OPTS)
        await wait_until(lambda: _is(client, "node-a", ("True", False)), timeout=15)
    finally:
        await stop_agents(agents)


async def _pod_ready(client, name: str, want: str = "True") -> bool:
    status, body = await client.request("GET", f"{PODS}/{name}")
    conds = {c["type"]: c["status"] for c in body.get("status", {}).get("conditions", [])} if status == 200 else {}
    return conds.get("Ready") == want


async def _is(client, name, want) -> bool:
    return await node_state(client, name) == want


def test_eviction_delay_follows_tolerations():
    plain = {"spec": {}}
    defaulted = {"spec": {"tolerations": [{"key": UNREACHABLE, "operator": "Exists", "effect": "NoExecute",
                                           "tolerationSeconds": 300}]}}
    short = {"spec": {"tolerations": [{"key": UNREACHABLE, "operator": "Exists", "effect": "NoExecute",
                                       "tolerationSeconds": 5}]}}
    forever = {"spec": {"tolerations": [{"operator": "Exists"}]}}
    assert eviction_delay(plain, 60) == 60
    assert eviction_delay(defaulted, 60) == 60
    assert eviction_delay(short, 60) == 5
    assert eviction_delay(forever, 60) is None
