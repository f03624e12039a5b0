"""Scheduling throughput on hollow nodes: N Deployments totalling 5,000 pods on 500 nodes
(quick: 200 pods on 20), through the whole control plane (`pyctl-controlplane`: the API server
process and its child running the scheduler, controllers and gateway) on a real etcd, with hollow agents (agent.hollow.run_hollow_agents in one more
process) over the real gateway reporting the pods Running.

Anchors: Kubernetes' scheduler SLO work targets 100 pods/s; pyctl's goal is ≥ 1,000 pods/s.
"""

from __future__ import annotations

import asyncio
import os
import time
from dataclasses import dataclass

import aiohttp

from .cluster import Etcd, start_controlplane, start_hollow_nodes, stop_all, wait_for
from .goals import PODS_PER_SECOND
from .podwatch import PodWatch
from .procstat import cpu_seconds, cpu_share, family_cpu_seconds, family_rss_mib, machine_cpu_seconds, rss_mib
from .profile import Profiler
from .report import Section, Table
from .stats import Samples, ms
from .timeline import pods_per_second

DEPLOY = "/apis/apps/v1/namespaces/default/deployments"


@dataclass(frozen=True)
class Plan:
    nodes: int
    deployments: int
    replicas: int  # per deployment
    time_limit: float  # for all pods to be Running


def plan(quick: bool) -> Plan:
    return Plan(20, 4, 50, 60) if quick else Plan(500, 10, 500, 600)


def deployment(name: str, replicas: int) -> dict:
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}}, "spec": {"containers": [
                         {"name": "c", "image": "pyctl/demo:1.0",
                          "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}}}]}}}}


async def ready_nodes(s: aiohttp.ClientSession, url: str) -> int:
    async with s.get(url + "/api/v1/nodes") as r:
        nodes = (await r.json())["items"]
    return sum(any(c["type"] == "Ready" and c["status"] == "True" for c in (n.get("status") or {}).get("conditions", []))
               for n in nodes)


async def run(quick: bool, workdir: str, facts: dict) -> Section:
    p = plan(quick)
    total = p.deployments * p.replicas
    etcd = Etcd().start()
    cp = nodes = profiler = watch = None
    result: dict = {}
    try:
        cp, url, gw = await start_controlplane(etcd, log=os.path.join(workdir, "scheduler-controlplane.log"))
        nodes = start_hollow_nodes(gw, p.nodes, log=os.path.join(workdir, "hollow-nodes.log"))
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as s:
            t_nodes = time.perf_counter()
            await wait_for(lambda: _enough(s, url, p.nodes), 300, f"{p.nodes} hollow nodes Ready", 1.0)
            result["nodes_ready_s"] = time.perf_counter() - t_nodes
            result["rss_idle"] = family_rss_mib(cp.pid)
            # What the nodes' heartbeats and status alone cost, before there is any pod.
            idle = Profiler(cp.pid, os.path.join(workdir, "scheduler-idle.pyspy.txt"))
            result["cpu_idle"] = await asyncio.to_thread(cpu_share, cp.pid, 3.0 if quick else 10.0, True)
            idle.stop()
            result["idle_profile"] = idle.path if idle.available else ""
            watch = await PodWatch(url).start(s)
            profiler = Profiler(cp.pid, os.path.join(workdir, "scheduler.pyspy.txt"))
            t0, cpu0 = time.perf_counter(), family_cpu_seconds(cp.pid)
            others0 = _others_cpu(etcd, nodes)
            for i in range(p.deployments):
                async with s.post(url + DEPLOY, json=deployment(f"bench-{i}", p.replicas)) as r:
                    if r.status != 201:
                        raise RuntimeError(f"create deployment: {r.status} {await r.text()}")
            deadline = p.time_limit
            result["all_bound"] = await watch.wait_count("bound", total, deadline)
            result["all_running"] = await watch.wait_count("running", total, max(1.0, deadline - (time.perf_counter() - t0)))
            result["t0"] = t0
            cpu1, wall = family_cpu_seconds(cp.pid), time.perf_counter() - t0
            used = {pid: c - cpu0.get(pid, 0.0) for pid, c in cpu1.items()}  # a restarted child counts from 0
            result["cpu"] = (sum(used.values()), wall)
            result["cpu_apiserver"] = used.get(cp.pid, 0.0)
            result["others"] = {k: v - others0[k] for k, v in _others_cpu(etcd, nodes).items()}
            profiler.stop()
            result["rss_loaded"] = family_rss_mib(cp.pid)
            result["rss_nodes"] = rss_mib(nodes.pid)
    finally:
        stop_all(profiler, watch, nodes, cp, etcd)
    return section(p, watch, result, profiler)


def _others_cpu(etcd: Etcd, nodes) -> dict[str, float]:
    """CPU seconds so far of what shares the machine with the control plane during the run."""
    busy, total = machine_cpu_seconds()
    return {"etcd": cpu_seconds(etcd.proc.pid), "hollow": cpu_seconds(nodes.pid),
            "bench": cpu_seconds(os.getpid()), "machine": busy, "machine_total": total}


async def _enough(s: aiohttp.ClientSession, url: str, n: int) -> bool:
    return await ready_nodes(s, url) >= n


def budget_at(rate: float, cores: float, others_ms_per_pod: float) -> float:
    """Control-plane CPU ms per pod left at `rate` pods/s on `cores` cores once what shares the
    machine (etcd, the hollow agents, this benchmark's watch) has taken its measured share."""
    return (cores - rate * others_ms_per_pod / 1000) / rate * 1000


def section(p: Plan, watch: PodWatch, r: dict, profiler: Profiler | None) -> Section:
    total = p.deployments * p.replicas
    t0 = r["t0"]
    cores = r["others"]["machine_total"] / r["cpu"][1]
    others_ms = sum(r["others"][k] for k in ("etcd", "hollow", "bench")) / total * 1000
    budget = budget_at(PODS_PER_SECOND, cores, others_ms)
    times = list(watch.pods.values())
    bound = sorted(t.bound for t in times if t.bound)
    running = sorted(t.running for t in times if t.running)
    to_bound = Samples([t.bound - t.added for t in times if t.bound])
    to_running = Samples([t.running - t.added for t in times if t.running])
    first_seen = min((t.added for t in times), default=t0)

    def rate(stamps: list[float], since: float) -> str:
        return f"{len(stamps) / (stamps[-1] - since):.0f}" if stamps and stamps[-1] > since else "n/a"

    def done(stamps: list[float]) -> str:
        return f"{stamps[-1] - t0:.2f}" if len(stamps) >= total else f"not all ({len(stamps)}/{total})"

    table = Table(f"{p.deployments} Deployments × {p.replicas} replicas = {total} pods on {p.nodes} hollow nodes",
                  ["measure", "value"], [
                      ["pods created per second (first → last seen on the watch)", rate(sorted(t.added for t in times), first_seen)],
                      ["pods bound per second (first pod seen → last bound)", rate(bound, first_seen)],
                      ["pods Running per second (first pod seen → last Running)", rate(running, first_seen)],
                      ["s from the first Deployment create until all bound", done(bound)],
                      ["s from the first Deployment create until all Running (reported by agents)", done(running)],
                      ["create→bound p50 / p99 ms", f"{ms(to_bound.p50)} / {ms(to_bound.p99)}"],
                      ["create→Running p50 / p99 ms", f"{ms(to_running.p50)} / {ms(to_running.p99)}"],
                      ["control-plane CPU during the run, both processes, cores busy (CPU s / wall s)",
                       f"{r['cpu'][0] / r['cpu'][1]:.2f} ({r['cpu'][0]:.1f} / {r['cpu'][1]:.1f})"],
                      ["… of which the API server process / the components process (scheduler, controllers, "
                       "gateway), cores busy", f"{r['cpu_apiserver'] / r['cpu'][1]:.2f} / "
                       f"{(r['cpu'][0] - r['cpu_apiserver']) / r['cpu'][1]:.2f}"],
                      ["… the same window: etcd / the hollow agents' process / this benchmark's watch, cores busy",
                       " / ".join(f"{r['others'][k] / r['cpu'][1]:.2f}" for k in ("etcd", "hollow", "bench"))],
                      [f"… the same window: the whole machine, cores busy of {cores:.0f}",
                       f"{r['others']['machine'] / r['cpu'][1]:.2f}"],
                      [f"control-plane CPU with {p.nodes} idle nodes and no pods, cores busy", f"{r['cpu_idle']:.2f}"],
                      ["control-plane CPU ms per pod (create, bind, status, watches)", f"{r['cpu'][0] / total * 1000:.1f}"],
                      ["CPU ms per pod of etcd, the hollow agents and this benchmark's watch", f"{others_ms:.1f}"],
                      [f"control-plane CPU ms per pod that {PODS_PER_SECOND:,} pods/s would leave on these {cores:.0f} "
                       "cores, after them", f"{budget:.2f}"],
                      [f"s until {p.nodes} hollow nodes were Ready (set-up)", f"{r['nodes_ready_s']:.1f}"],
                  ])
    bound_rate = len(bound) / (bound[-1] - first_seen) if bound and bound[-1] > first_seen else 0.0
    anchors = Table("Anchors", ["reference", "pods/s", "pyctl / reference"], [
        ["Kubernetes scheduler goal", "100", f"{bound_rate / 100:.2f}×"],
        ["pyctl goal", str(PODS_PER_SECOND), f"{bound_rate / PODS_PER_SECOND:.2f}×"]])
    sec = Section("scheduler", "Scheduler on hollow nodes",
                  "A pod's \"create\" is the moment this benchmark's pod watch (opened before the "
                  "Deployments were created) first saw it; bound and Running are the first watch events "
                  "showing `spec.nodeName` and `status.phase=Running` (written by the hollow agents through "
                  "the gateway). All three are this process's monotonic clock, as `creationTimestamp` has "
                  "one-second resolution. So create→bound includes the watch's own delivery delay twice. "
                  "The control plane is two processes, the API server and its child running the scheduler, "
                  "controllers and gateway; its CPU and RSS figures are the sum of both.",
                  [table, anchors])
    sec.notes.append(f"The watch saw {watch.events} pod events for {len(times)} pods.")
    sec.distributions = {"scheduler create→bound": to_bound.latencies,
                         "scheduler create→Running": to_running.latencies}
    sec.facts = {"controlplane_rss_idle": r["rss_idle"], "controlplane_rss_loaded": r["rss_loaded"],
                 "hollow_rss": r["rss_nodes"], "nodes": p.nodes, "pods": total,
                 "bound_rate": bound_rate, "all_bound": len(bound) >= total,
                 "cpu_ms_per_pod": r["cpu"][0] / total * 1000, "cpu_budget_ms_at_goal": budget}
    sec.timelines = pods_per_second({"created": [t.added for t in times], "bound": bound, "Running": running}, t0)
    if profiler is not None and profiler.available:
        sec.facts["profile"] = profiler.path
    if r.get("idle_profile"):
        sec.facts[f"profile: {p.nodes} idle nodes, no pods yet"] = r["idle_profile"]
    return sec
