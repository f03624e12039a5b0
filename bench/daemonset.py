"""A DaemonSet over 500 hollow nodes (quick: 20), against a Deployment of as many replicas
measured in the same run on the same control plane: the time from the create until every pod
is Ready (and, for the DaemonSet, its status says so), and the control plane's CPU for it;
then a rolling update of the DaemonSet (maxUnavailable 10%) until `rollout status` would say
done. The whole control plane runs as `pyctl-controlplane` on a real etcd, the hollow agents
in one more process over the real gateway (as bench/scheduler.py).

The Deployment is the baseline: both place one pod per node's worth of replicas through the
same API server, scheduler and agents; what differs is the controller (and that DaemonSet
pods are pinned to a node each by a node-name affinity, which the scheduler checks).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

import aiohttp

from .cluster import Etcd, start_controlplane, start_hollow_nodes, stop_all, wait_for
from .podwatch import PodWatch
from .procstat import family_cpu_seconds
from .report import Section, Table
from .scheduler import _enough

APPS = "/apis/apps/v1/namespaces/default"


@dataclass(frozen=True)
class Plan:
    nodes: int
    time_limit: float  # for one phase


def plan(quick: bool) -> Plan:
    return Plan(20, 60) if quick else Plan(500, 600)


def workload(kind: str, name: str, nodes: int, image: str = "pyctl/demo:1.0") -> dict:
    spec: dict = {"selector": {"matchLabels": {"app": name}},
                  "template": {"metadata": {"labels": {"app": name}}, "spec": {"containers": [
                      {"name": "c", "image": image, "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}}}]}}}
    if kind == "Deployment":
        spec["replicas"] = nodes
    else:
        spec["updateStrategy"] = {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "10%"}}
    return {"apiVersion": "apps/v1", "kind": kind, "metadata": {"name": name}, "spec": spec}


async def _json(s: aiohttp.ClientSession, method: str, url: str, body: dict | None = None,
                content_type: str = "application/json") -> dict:
    async with s.request(method, url, json=body, headers={"Content-Type": content_type}) as r:
        if r.status >= 300:
            raise RuntimeError(f"{method} {url}: {r.status} {await r.text()}")
        return await r.json()


async def _rolled_out(s: aiohttp.ClientSession, url: str, name: str, nodes: int) -> bool:
    """kubectl's DaemonSet status viewer says done (and every node is counted)."""
    ds = await _json(s, "GET", f"{url}{APPS}/daemonsets/{name}")
    st = ds.get("status") or {}
    return (ds["metadata"]["generation"] <= st.get("observedGeneration", 0)
            and st.get("desiredNumberScheduled") == nodes
            and st.get("updatedNumberScheduled", 0) >= nodes and st.get("numberAvailable", 0) >= nodes)


async def _gone(watch: PodWatch, prefix: str) -> bool:
    return all(t.deleted is not None for n, t in watch.pods.items() if n.startswith(prefix))


async def _phase(cp_pid: int, action, done, limit: float) -> tuple[float, float]:
    """(wall seconds until `done`, control-plane CPU seconds) for one phase."""
    t0, cpu0 = time.perf_counter(), family_cpu_seconds(cp_pid)
    await action()
    await wait_for(done, limit, "the phase to finish", 0.05)
    wall = time.perf_counter() - t0
    cpu1 = family_cpu_seconds(cp_pid)
    return wall, sum(c - cpu0.get(pid, 0.0) for pid, c in cpu1.items())


async def run(quick: bool, workdir: str, facts: dict) -> Section:
    p = plan(quick)
    etcd = Etcd().start()
    cp = nodes = watch = None
    r: dict[str, tuple[float, float]] = {}
    try:
        cp, url, gw = await start_controlplane(etcd, log=os.path.join(workdir, "daemonset-controlplane.log"))
        nodes = start_hollow_nodes(gw, p.nodes, log=os.path.join(workdir, "daemonset-hollow-nodes.log"))
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as s:
            await wait_for(lambda: _enough(s, url, p.nodes), 300, f"{p.nodes} hollow nodes Ready", 1.0)
            watch = await PodWatch(url).start(s)
            n = p.nodes

            # Baseline: a Deployment of one replica per node, then gone again.
            r["deploy"] = await _phase(
                cp.pid, lambda: _json(s, "POST", f"{url}{APPS}/deployments", workload("Deployment", "base", n)),
                lambda: watch.count("ready", "base-") >= n, p.time_limit)
            await _json(s, "DELETE", f"{url}{APPS}/deployments/base")
            await wait_for(lambda: _gone(watch, "base-"), p.time_limit, "the Deployment's pods to go", 0.1)

            r["daemonset"] = await _phase(
                cp.pid, lambda: _json(s, "POST", f"{url}{APPS}/daemonsets", workload("DaemonSet", "agent", n)),
                lambda: _ready_and_counted(s, url, watch, n), p.time_limit)
            patch = {"spec": {"template": {"spec": {"containers": [{"name": "c", "image": "pyctl/demo:2.0"}]}}}}
            r["rolling"] = await _phase(
                cp.pid, lambda: _json(s, "PATCH", f"{url}{APPS}/daemonsets/agent", patch,
                                      "application/strategic-merge-patch+json"),
                lambda: _rolled_out(s, url, "agent", n), p.time_limit)
    finally:
        stop_all(watch, nodes, cp, etcd)
    return section(p, r)


async def _ready_and_counted(s: aiohttp.ClientSession, url: str, watch: PodWatch, n: int) -> bool:
    return watch.count("ready", "agent-") >= n and await _rolled_out(s, url, "agent", n)


def section(p: Plan, r: dict[str, tuple[float, float]]) -> Section:
    (d_wall, d_cpu), (ds_wall, ds_cpu), (ru_wall, ru_cpu) = r["deploy"], r["daemonset"], r["rolling"]
    n = p.nodes
    table = Table(f"One pod on each of {n} hollow nodes: a DaemonSet against a Deployment of {n} replicas "
                  "(same run, same control plane)", ["measure", "Deployment (baseline)", "DaemonSet", "DaemonSet / Deployment"], [
        ["s from the create until every pod is Ready", f"{d_wall:.1f}", f"{ds_wall:.1f}", f"{ds_wall / d_wall:.2f}×"],
        ["pods Ready per second", f"{n / d_wall:.0f}", f"{n / ds_wall:.0f}", f"{d_wall / ds_wall:.2f}×"],
        ["control-plane CPU s (both processes)", f"{d_cpu:.1f}", f"{ds_cpu:.1f}", f"{ds_cpu / d_cpu:.2f}×"],
        ["control-plane CPU ms per pod", f"{d_cpu / n * 1000:.1f}", f"{ds_cpu / n * 1000:.1f}", ""],
    ])
    rolling = Table(f"Rolling update of the DaemonSet over {n} nodes (maxUnavailable 10%: {max(1, -(-n // 10))} "
                    "pods at a time)", ["measure", "value"], [
        ["s from the template change until rolled out (updated and available on every node)", f"{ru_wall:.1f}"],
        ["pods replaced per second", f"{n / ru_wall:.0f}"],
        ["control-plane CPU s / ms per pod replaced", f"{ru_cpu:.1f} / {ru_cpu / n * 1000:.1f}"],
    ])
    sec = Section("daemonset", "DaemonSet over hollow nodes",
                  "Ready is the first event of this benchmark's pod watch that shows the pod's Ready "
                  "condition True (written by the hollow agents through the gateway); the DaemonSet phase "
                  "ends once its status also counts every node available. CPU is the control plane's two "
                  "processes (API server; scheduler, controllers and gateway), summed.", [table, rolling])
    sec.facts = {"nodes": n, "daemonset_s": ds_wall, "deployment_s": d_wall}
    return sec
