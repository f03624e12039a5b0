"""host-gw routes in real network namespaces, as root.

Two "nodes" (network namespaces joined by a veth on 10.250.77.0/24) each run the agent's
route code; each node has one "pod" namespace on a veth with an address from its podCIDR.
The tests check each node's routing table, then that the pods reach each other by IP; the
first drives it all through real agents (hollow containers) talking to a real control plane
on loopback, the agents programming routes in their node's namespace.
Everything lives in namespaces this test creates (names unique per run) and is deleted
afterwards, so no packet can reach the host's own network.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest

from agent.network.routes import ROUTE_PROTO, HostRoutes, RouteSyncer, desired_routes
from agent.node import Agent
from agent.nodeinfo import hollow_registration
from agent.runtime.hollow import VERSION, HollowRuntime
from agent.session import SessionConfig
from controlplane.controllers.manager import ControllerManager
from controlplane.gateway import GatewayConfig, start_gateway
from tests.cluster import Client, wait_until

from .helpers import BUSYBOX

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("ip") or not os.path.exists(BUSYBOX),
                       reason="needs root, iproute2 and busybox (ping)"),
]

CLUSTER = "10.244.0.0/16"
NODE_IP = {"a": "10.250.77.1", "b": "10.250.77.2"}
POD_CIDR = {"a": "10.244.1.0/24", "b": "10.244.2.0/24"}


def ip(*args: str) -> str:
    return subprocess.run(["ip", *args], check=True, capture_output=True, text=True, timeout=10).stdout


def in_ns(ns: str, *argv: str) -> subprocess.CompletedProcess:
    return subprocess.run(["nsenter", f"--net=/run/netns/{ns}", "--", *argv],
                          capture_output=True, text=True, timeout=20)


@pytest.fixture
def nodes():
    """{"a": netns name, "b": ..., "pod-a": ..., "pod-b": ...}, wired up; deleted afterwards."""
    tag = uuid.uuid4().hex[:6]
    names = {k: f"pyrt-{tag}-{k}" for k in ("a", "b", "pod-a", "pod-b")}
    try:
        for ns in names.values():
            ip("netns", "add", ns)
        # node a <-> node b: the "machines' network"
        ip("-n", names["a"], "link", "add", "node0", "type", "veth", "peer", "name", "node0", "netns", names["b"])
        for k in ("a", "b"):
            node, pod_ns, gw = names[k], names[f"pod-{k}"], POD_CIDR[k].replace(".0/24", ".1")
            ip("-n", node, "addr", "add", f"{NODE_IP[k]}/24", "dev", "node0")
            # node <-> its pod: what the CNI bridge does for a real pod
            ip("-n", node, "link", "add", "pod0", "type", "veth", "peer", "name", "eth0", "netns", pod_ns)
            ip("-n", node, "addr", "add", f"{gw}/24", "dev", "pod0")
            ip("-n", pod_ns, "addr", "add", POD_CIDR[k].replace(".0/24", ".10/24"), "dev", "eth0")
            for ns, dev in ((node, "node0"), (node, "pod0"), (node, "lo"), (pod_ns, "eth0"), (pod_ns, "lo")):
                ip("-n", ns, "link", "set", dev, "up")
            ip("-n", pod_ns, "route", "add", CLUSTER, "via", gw)
            assert in_ns(node, "sysctl", "-qw", "net.ipv4.ip_forward=1").returncode == 0
        yield names
    finally:
        for ns in names.values():
            subprocess.run(["ip", "netns", "del", ns], capture_output=True, timeout=10)
        assert not [n for n in names.values() if n in ip("netns", "list")]


def routes_in(ns: str) -> list[dict]:
    return json.loads(ip("-n", ns, "-j", "route", "show"))


def our_routes(ns: str) -> dict[str, str]:
    return {r["dst"]: r["gateway"] for r in routes_in(ns) if str(r.get("protocol")) == ROUTE_PROTO}


def others(k: str) -> list[tuple[str, str]]:
    """What the gateway would send node k: every other node's (podCIDR, node IP)."""
    return [(POD_CIDR[o], NODE_IP[o]) for o in NODE_IP if o != k]


async def test_agents_route_each_others_pod_cidrs_from_the_control_plane(api, nodes):
    gateway = await start_gateway(api.url, "127.0.0.1:0", GatewayConfig(heartbeat_period=0.2))
    ipam = ControllerManager(api.url, leader_election=False, controllers=("nodeipam",))
    await ipam.start()
    client = Client(api.url)
    agents = {k: Agent(gateway.address, hollow_registration(nodes[k], VERSION, NODE_IP[k]),
                       HollowRuntime(nodes[k]), host_ip=NODE_IP[k], listen=None, pod_cidr=POD_CIDR[k],
                       session_config=SessionConfig(backoff_base=0.05, backoff_max=0.5),
                       routes=HostRoutes(Path(f"/run/netns/{nodes[k]}"))).start()
              for k in ("a", "b")}
    try:
        await wait_until(lambda: our_routes(nodes["a"]) == {"10.244.2.0/24": "10.250.77.2"}
                         and our_routes(nodes["b"]) == {"10.244.1.0/24": "10.250.77.1"}, timeout=30)
        ping = in_ns(nodes["pod-a"], BUSYBOX, "ping", "-c", "1", "-W", "5", "10.244.2.10")
        assert ping.returncode == 0, ping.stdout + ping.stderr

        # Node b leaves the cluster: node a drops its route.
        await agents.pop("b").stop()
        assert (await client.request("DELETE", f"/api/v1/nodes/{nodes['b']}"))[0] == 200
        await wait_until(lambda: our_routes(nodes["a"]) == {}, timeout=30)
    finally:
        for agent in agents.values():
            await agent.stop()
        await ipam.stop()
        await gateway.stop()
        await client.close()


async def test_each_node_routes_the_other_nodes_pod_cidr_and_pods_reach_each_other(nodes):
    syncers = {k: RouteSyncer(HostRoutes(Path(f"/run/netns/{nodes[k]}")), NODE_IP[k], period=0.2)
               for k in ("a", "b")}
    tasks = [asyncio.create_task(s.run()) for s in syncers.values()]
    try:
        for k, s in syncers.items():
            s.update(CLUSTER, POD_CIDR[k], others(k))
        for s in syncers.values():
            await asyncio.wait_for(s.synced.wait(), 20)
        assert our_routes(nodes["a"]) == {"10.244.2.0/24": "10.250.77.2"}
        assert our_routes(nodes["b"]) == {"10.244.1.0/24": "10.250.77.1"}

        ping = in_ns(nodes["pod-a"], BUSYBOX, "ping", "-c", "1", "-W", "5", "10.244.2.10")
        assert ping.returncode == 0, ping.stdout + ping.stderr

        # Someone deletes our route: the periodic pass puts it back.
        ip("-n", nodes["a"], "route", "del", "10.244.2.0/24")
        syncers["a"].synced.clear()
        await asyncio.wait_for(syncers["a"].synced.wait(), 20)
        assert our_routes(nodes["a"]) == {"10.244.2.0/24": "10.250.77.2"}

        # Node b is gone from the cluster: its route goes, and pod a can no longer reach pod b.
        syncers["a"].update(CLUSTER, POD_CIDR["a"], [])
        await asyncio.wait_for(syncers["a"].synced.wait(), 20)
        assert our_routes(nodes["a"]) == {}
        assert in_ns(nodes["pod-a"], BUSYBOX, "ping", "-c", "1", "-W", "1", "10.244.2.10").returncode != 0
    finally:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def test_routes_it_did_not_make_or_outside_the_cluster_cidr_are_never_touched(nodes):
    a = nodes["a"]
    ip("-n", a, "route", "add", "192.168.77.0/24", "via", "10.250.77.2", "proto", ROUTE_PROTO)  # outside
    ip("-n", a, "route", "add", "10.244.9.0/24", "via", "10.250.77.2", "proto", "static")     # not ours
    before = {r["dst"] for r in routes_in(a)}
    routes = HostRoutes(Path(f"/run/netns/{a}"))

    desired = desired_routes(others("a") + [("192.168.78.0/24", "10.250.77.2")], CLUSTER, POD_CIDR["a"],
                             NODE_IP["a"])
    assert await routes.sync(CLUSTER, desired) == []
    assert await routes.sync(CLUSTER, desired) == []  # idempotent
    assert {r["dst"] for r in routes_in(a)} == before | {"10.244.2.0/24"}

    assert await routes.sync(CLUSTER, {}) == []
    assert {r["dst"] for r in routes_in(a)} == before

    # A next hop that is not on any connected network is reported, and the rest still applies.
    errors = await routes.sync(CLUSTER, {"10.244.3.0/24": "10.99.0.1", "10.244.2.0/24": "10.250.77.2"})
    assert len(errors) == 1 and errors[0].startswith("10.244.3.0/24 via 10.99.0.1")
    assert our_routes(a) == {"10.244.2.0/24": "10.250.77.2", "192.168.77.0/24": "10.250.77.2"}
