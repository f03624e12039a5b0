"""What resource metrics cost the control plane: 500 hollow nodes running 2,000 pods (quick: 40
nodes, 160 pods), the control plane's CPU (both processes) measured over the same window with
agents reporting usage every 15 s (the default --metric-resolution) and with reporting off (0).

Same etcd, same pods, same agents' process: the control plane is restarted on the same ports
with the other flag and the agents reconnect. Beside it, what one `kubectl top pods -A`'s
request costs at that size (a metrics.k8s.io list of every pod, served from memory).
"""

from __future__ import annotations

import asyncio
import os
import time
from dataclasses import dataclass

import aiohttp

from .cluster import Etcd, free_port, start_controlplane, start_hollow_nodes, stop_all, wait_for
from .procstat import cpu_seconds, family_cpu_seconds
from .report import Section, Table
from .stats import Samples, ms, run_load

DEPLOY = "/apis/apps/v1/namespaces/default/deployments"
METRICS = "/apis/metrics.k8s.io/v1beta1"


@dataclass(frozen=True)
class Plan:
    nodes: int
    pods: int
    resolution: float  # seconds between reports when on
    window: float  # seconds CPU is measured over, per setting


def plan(quick: bool) -> Plan:
    return Plan(40, 160, 5.0, 15.0) if quick else Plan(500, 2000, 15.0, 60.0)


def deployment(replicas: int) -> dict:
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "measured"},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "measured"}},
                     "template": {"metadata": {"labels": {"app": "measured"}}, "spec": {"containers": [
                         {"name": "c", "image": "pyctl/demo:1.0",
                          "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}}}]}}}}


async def _count(s: aiohttp.ClientSession, url: str, path: str) -> int:
    async with s.get(url + path) as r:
        return len((await r.json()).get("items") or []) if r.status == 200 else -1


async def _sessions(s: aiohttp.ClientSession, url: str) -> float:
    with_metrics = 0.0
    async with s.get(url + "/metrics") as r:
        for line in (await r.text()).splitlines():
            if line.startswith("pyctl_gateway_sessions "):
                with_metrics = float(line.split()[1])
    return with_metrics


async def _window(cp_pid: int, nodes_pid: int, seconds: float) -> dict[str, float]:
    """Cores busy over the next `seconds`: the API server, the components process, the agents."""
    cp0, n0, t0 = family_cpu_seconds(cp_pid), cpu_seconds(nodes_pid), time.perf_counter()
    await asyncio.sleep(seconds)
    cp1, n1, wall = family_cpu_seconds(cp_pid), cpu_seconds(nodes_pid), time.perf_counter() - t0
    used = {pid: c - cp0.get(pid, 0.0) for pid, c in cp1.items()}
    api = used.get(cp_pid, 0.0)
    return {"api": api / wall, "components": (sum(used.values()) - api) / wall, "agents": (n1 - n0) / wall}


async def run(quick: bool, workdir: str, facts: dict) -> Section:
    p = plan(quick)
    etcd = Etcd().start()
    cp = nodes = None
    port, gateway = free_port(), f"127.0.0.1:{free_port()}"
    measured: dict[str, dict[str, float]] = {}
    lists = Samples([])
    try:
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as s:
            for setting, resolution in (("off", 0.0), ("on", p.resolution)):
                cp, url, _ = await start_controlplane(
                    etcd, log=os.path.join(workdir, f"metrics-{setting}-controlplane.log"), port=port,
                    gateway=gateway, extra=("--metric-resolution", f"{resolution:g}"))
                if nodes is None:
                    nodes = start_hollow_nodes(gateway, p.nodes, log=os.path.join(workdir, "metrics-hollow.log"))
                    await wait_for(lambda: _sessions_at_least(s, url, p.nodes), 300, f"{p.nodes} agents connected", 1.0)
                    async with s.post(url + DEPLOY, json=deployment(p.pods)) as r:
                        assert r.status == 201, await r.text()
                    await wait_for(lambda: _running(s, url, p.pods), 600, f"{p.pods} pods Running", 1.0)
                else:
                    await wait_for(lambda: _sessions_at_least(s, url, p.nodes), 300, "agents reconnected", 1.0)
                if resolution:
                    await wait_for(lambda: _all_measured(s, url, p), 120, "every node and pod measured", 1.0)
                await asyncio.sleep(min(10.0, p.window / 2))  # reconnection traffic settles
                measured[setting] = await _window(cp.pid, nodes.pid, p.window)
                if resolution:
                    lists = await run_load(lambda i: _count(s, url, f"{METRICS}/pods"), 20, 1, 60)
                cp.stop()
                cp = None
    finally:
        stop_all(cp, nodes, etcd)
    facts["metrics_cost"] = measured
    return section(p, measured, lists)


async def _sessions_at_least(s: aiohttp.ClientSession, url: str, n: int) -> bool:
    try:
        return await _sessions(s, url) >= n
    except aiohttp.ClientError:
        return False


async def _running(s: aiohttp.ClientSession, url: str, n: int) -> bool:
    return await _count(s, url, "/api/v1/namespaces/default/pods?fieldSelector=status.phase%3DRunning") >= n


async def _all_measured(s: aiohttp.ClientSession, url: str, p: Plan) -> bool:
    return await _count(s, url, f"{METRICS}/nodes") >= p.nodes and await _count(s, url, f"{METRICS}/pods") >= p.pods


def section(p: Plan, m: dict[str, dict[str, float]], lists: Samples) -> Section:
    off, on = m["off"], m["on"]
    rows = []
    for key, what in (("api", "API server process"), ("components", "components process (gateway among them)"),
                      ("agents", "the hollow agents' process (sampling and sending)")):
        rows.append([what, f"{off[key]:.3f}", f"{on[key]:.3f}", f"{on[key] - off[key]:+.3f}"])
    cp_off, cp_on = off["api"] + off["components"], on["api"] + on["components"]
    rows.append(["control plane, both processes", f"{cp_off:.3f}", f"{cp_on:.3f}", f"{cp_on - cp_off:+.3f}"])
    table = Table(f"{p.nodes} hollow nodes, {p.pods} pods: cores busy over {p.window:.0f} s, reports every "
                  f"{p.resolution:g} s vs none",
                  ["process", "metrics off", f"metrics every {p.resolution:g} s", "difference"], rows)
    per = Table("Serving them", ["measure", "value"], [
        [f"GET {METRICS}/pods (all {p.pods} pods) p50 / p99 ms", f"{ms(lists.p50)} / {ms(lists.p99)}"],
        ["control-plane cores per 100 nodes for metrics", f"{(cp_on - cp_off) / p.nodes * 100:.4f}"]])
    return Section("resourcemetrics", "Resource metrics (metrics.k8s.io) at scale",
                   __doc__.strip().split("\n\n")[0], [table, per])
