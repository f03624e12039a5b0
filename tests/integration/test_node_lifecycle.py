"""Node lifecycle: an agent that goes away makes its node NotReady, then its pods are marked
for deletion (Terminating) and replaced elsewhere, but stay until their node's agent confirms
they stopped or the Node is deleted; an agent that comes back makes it Ready again. Real API
server, gateway, scheduler, ReplicaSet controller and hollow agents; a node is cut off by a
loopback TCP relay between its agent and the gateway."""

from __future__ import annotations

import asyncio
import contextlib
from typing import AsyncIterator

import pytest

from agent.hollow import run_hollow_agents, stop_agents
from agent.pods import PodTimings
from agent.session import SessionConfig
from controlplane.client import ApiClient
from controlplane.controllers.node_lifecycle import (UNREACHABLE, NodeLifecycleConfig, eviction_delay,
                                                     run_node_lifecycle)
from controlplane.controllers.pod_gc import OUT_OF_SERVICE, PodGC, PodGCConfig
from controlplane.controllers.replicaset import ReplicaSetController
from controlplane.gateway import start_gateway
from controlplane.scheduler.scheduler import Scheduler, SchedulerConfig

from ..cluster import wait_until
from .test_gateway import FAST, PODS, node_ready, pod
from .test_replicaset_controller import RS_PATH, replicaset

LIFECYCLE = NodeLifecycleConfig(grace_period=2.0, eviction_timeout=3.0, monitor_period=0.3)
AGENT_OPTS = dict(pod_timings=PodTimings(resync_period=0.5),
                  session_config=SessionConfig(backoff_base=0.05, backoff_max=0.5))


class Relay:
    """A loopback TCP relay to the gateway that a test cuts as a partition would (established
    connections drop, new ones are refused) and restores."""

    def __init__(self, target: str) -> None:
        host, _, port = target.rpartition(":")
        self.target = (host, int(port))
        self.cut_off = False
        self.transports: set[asyncio.BaseTransport] = set()
        self.server: asyncio.Server | None = None

    async def start(self) -> str:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return f"127.0.0.1:{self.server.sockets[0].getsockname()[1]}"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.cut_off:
            writer.transport.abort()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.transport.abort()
            return
        pair = {writer.transport, up_writer.transport}
        self.transports |= pair

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(ConnectionError):
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            dst.transport.abort()
        try:
            await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
        finally:
            self.transports -= pair

    def cut(self) -> None:
        self.cut_off = True
        for transport in list(self.transports):
            transport.abort()

    def restore(self) -> None:
        self.cut_off = False

    async def stop(self) -> None:
        self.cut()
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()


@pytest.fixture
async def cluster(api):
    gateway = await start_gateway(api.url, "127.0.0.1:0", FAST)
    controller = await run_node_lifecycle(api.url, LIFECYCLE)
    yield gateway
    await controller.stop()
    await gateway.stop()


@pytest.fixture
async def plane(api, cluster):
    """Besides the gateway and node lifecycle: the scheduler, the ReplicaSet controller and the
    pod GC (with a short quarantine)."""
    scheduler = Scheduler(api.url, SchedulerConfig(initial_backoff=0.05, max_backoff=0.2))
    rs_client, gc_client = ApiClient(api.url, user_agent="rs"), ApiClient(api.url, user_agent="podgc")
    rs, gc = ReplicaSetController(rs_client), PodGC(gc_client, PodGCConfig(period=0.3, quarantine=1.0))
    for started in (scheduler, rs, gc):
        await started.start()
    yield cluster
    for started in (gc, rs, scheduler):
        await started.stop()
    await rs_client.close()
    await gc_client.close()


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

        # Both of node-a's pods Ready first: only a Ready pod is marked not Ready (as kube's
        # node lifecycle controller does), so a pod still starting would never change.
        for name in ("on-a", "stays"):
            await wait_until(lambda name=name: _pod_ready(client, name), timeout=10)
        await agents[0].stop()  # node-a's agent dies: no more heartbeats, no more lease renewals
        await wait_until(lambda: _is(client, "node-a", ("Unknown", True)), timeout=15)
        # Before the eviction timeout: still there, but no longer Ready.
        await wait_until(lambda: _pod_ready(client, "stays", want="False"), timeout=10)

        await wait_until(lambda: _terminating(client, "on-a"), timeout=15)  # marked, not removed
        assert (await client.request("GET", f"{PODS}/on-b"))[0] == 200  # the healthy node keeps its pod
        assert not await _terminating(client, "stays")  # tolerates the taint forever
        assert await node_state(client, "node-b") == ("True", False)

        # A new agent on node-a (its pods died with the old one) confirms the deletion.
        agents += await run_hollow_agents(cluster.address, ["node-a"], **AGENT_OPTS)
        await wait_until(lambda: _is(client, "node-a", ("True", False)), timeout=15)
        await wait_until(lambda: _gone(client, "on-a"), timeout=15)
        assert (await client.request("GET", f"{PODS}/stays"))[0] == 200
    finally:
        await stop_agents(agents)


async def _terminating(client, name: str) -> bool:
    status, body = await client.request("GET", f"{PODS}/{name}")
    return status == 200 and bool(body["metadata"].get("deletionTimestamp"))


async def _gone(client, name: str) -> bool:
    return (await client.request("GET", f"{PODS}/{name}"))[0] == 404


@contextlib.asynccontextmanager
async def node_a_behind_a_relay(client, address: str) -> AsyncIterator[tuple[Relay, list]]:
    """node-a's agent behind a relay, node-b's direct; both Ready. Stopped on the way out."""
    relay = Relay(address)
    agents = await run_hollow_agents(await relay.start(), ["node-a"], **AGENT_OPTS)
    agents += await run_hollow_agents(address, ["node-b"], **AGENT_OPTS)
    try:
        for n in ("node-a", "node-b"):
            await wait_until(lambda n=n: node_ready(client, n), timeout=15)
        yield relay, agents
    finally:
        await stop_agents(agents)
        await relay.stop()


async def cut_off_with_a_terminating_pod(client, relay: Relay, *others: dict) -> None:
    """Pod on-a (and `others`) on node-a, Ready; then node-a cut off until on-a is Terminating."""
    for body in (pod("on-a", "node-a"), *others):
        assert (await client.request("POST", PODS, body))[0] == 201
    await wait_until(lambda: _pod_ready(client, "on-a"), timeout=10)
    relay.cut()
    await wait_until(lambda: _terminating(client, "on-a"), timeout=20)


async def test_pods_of_a_cut_off_node_are_replaced_but_go_only_when_the_node_confirms(client, plane):
    async with node_a_behind_a_relay(client, plane.address) as (relay, agents):
        rs = replicaset("web", 4)
        rs["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] = 1
        assert (await client.request("POST", RS_PATH, rs))[0] == 201

        async def running(n: int) -> list[dict]:
            _, listed = await client.request("GET", f"{PODS}?labelSelector=app%3Dweb")
            up = [p for p in listed["items"] if not p["metadata"].get("deletionTimestamp")
                  and (p.get("status") or {}).get("phase") == "Running"]
            return up if len(up) == n else []
        await wait_until(lambda: running(4), timeout=30)
        on_a = [p for p in await running(4) if p["spec"]["nodeName"] == "node-a"]
        assert on_a, "the scheduler spreads the replicas over both nodes"
        runtime_a = agents[0].runtime
        uids = [p["metadata"]["uid"] for p in on_a]

        relay.cut()  # node-a's agent keeps running its pods, but cannot reach the control plane
        for p in on_a:
            await wait_until(lambda p=p: _terminating(client, p["metadata"]["name"]), timeout=20)

        async def replaced() -> bool:
            pods = await running(4)
            return bool(pods) and all(p["spec"]["nodeName"] == "node-b" for p in pods)
        await wait_until(replaced, timeout=20)
        # Past their grace period the old pods are still there: nothing confirmed they stopped,
        # and on the cut-off node they do still run.
        await asyncio.sleep(2.0)
        for p in on_a:
            status, body = await client.request("GET", f"{PODS}/{p['metadata']['name']}")
            assert status == 200 and body["metadata"]["deletionGracePeriodSeconds"] == 1
        assert all([await runtime_a.pod_status(uid) is not None for uid in uids])

        relay.restore()  # the agent reconnects, stops them and confirms
        for p in on_a:
            await wait_until(lambda p=p: _gone(client, p["metadata"]["name"]), timeout=20)
        assert [await runtime_a.pod_status(uid) for uid in uids] == [None] * len(uids)
        assert len(await running(4)) == 4


async def test_pods_of_a_deleted_node_are_force_deleted(client, plane):
    async with node_a_behind_a_relay(client, plane.address) as (relay, _):
        await cut_off_with_a_terminating_pod(client, relay)
        assert (await client.request("DELETE", "/api/v1/nodes/node-a"))[0] == 200
        await wait_until(lambda: _gone(client, "on-a"), timeout=20)


async def test_terminating_pods_of_an_out_of_service_node_are_force_deleted(client, plane):
    async with node_a_behind_a_relay(client, plane.address) as (relay, _):
        stays = pod("stays", "node-a")  # tolerates being unreachable: never marked for deletion
        stays["spec"]["tolerations"] = [{"key": UNREACHABLE, "operator": "Exists", "effect": "NoExecute"}]
        await cut_off_with_a_terminating_pod(client, relay, stays)
        await asyncio.sleep(1.5)  # longer than the pod GC's period and quarantine: still there
        assert await _terminating(client, "on-a")
        _, node = await client.request("GET", "/api/v1/nodes/node-a")
        node["spec"]["taints"] = [*node["spec"].get("taints", []),
                                  {"key": OUT_OF_SERVICE, "value": "nodeshutdown", "effect": "NoExecute"}]
        assert (await client.request("PUT", "/api/v1/nodes/node-a", node))[0] == 200
        await wait_until(lambda: _gone(client, "on-a"), timeout=20)
        assert (await client.request("GET", f"{PODS}/stays"))[0] == 200  # not terminating: left alone


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
