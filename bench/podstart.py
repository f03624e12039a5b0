"""Pod start latency on a real 3-node local cluster (root), image cached: pods created through
the API one after another, each timed until a watch shows it Ready; then a Deployment of as
many replicas, each pod timed from the watch's first sight of it (its create) to Ready. Beside
them the raw path (bench/rawpod.py: netns + CNI ADD + overlay + `runc run -d` of the same
image), measured in the same run.

Goal (issue 8): pyctl's p50 within 4× the raw p50, and p99 under 500 ms.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from .podwatch import PodWatch
from .procstat import cpu_share, rss_mib
from .rawpod import RawPods
from .realnode import PODS, RealCluster, real_cluster
from .report import Section, Table
from .stats import Samples, ms, ratio

NODES = 3


def pod(name: str, image: str) -> dict:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
            "spec": {"terminationGracePeriodSeconds": 0, "containers": [{"name": "web", "image": image}]}}


async def one_by_one(rc: RealCluster, watch: PodWatch, names: list[str]) -> list[float]:
    async def start(name: str) -> float:
        t0 = time.perf_counter()
        async with rc.session.post(rc.url + PODS, json=pod(name, rc.image)) as r:
            if r.status != 201:
                raise RuntimeError(f"create pod: {r.status} {await r.text()}")
        if not await watch.wait_count("ready", 1, 60, prefix=name):
            raise TimeoutError(f"pod {name} not Ready within 60s")
        return watch.pods[name].ready - t0
    return [await start(n) for n in names]


async def deployment_burst(rc: RealCluster, watch: PodWatch, n: int) -> Samples:
    """All replicas at once: each pod from first seen (created by the ReplicaSet) to Ready."""
    out = Samples()
    t0 = time.perf_counter()
    await rc.create_deployment("burst", n)
    if not await watch.wait_count("ready", n, 120, prefix="burst-"):
        raise TimeoutError(f"deployment burst: {watch.count('ready', 'burst-')} of {n} pods Ready within 120s")
    out.wall = time.perf_counter() - t0
    out.latencies = [t.ready - t.added for name, t in watch.pods.items() if name.startswith("burst-") and t.ready]
    return out


async def node_of(rc: RealCluster, name: str) -> str:
    async with rc.session.get(f"{rc.url}{PODS}/{name}") as r:
        return (await r.json())["spec"].get("nodeName", "")


async def run(quick: bool, workdir: str, facts: dict) -> Section:
    n = 10 if quick else 30
    pyctl, raw = Samples(), Samples()
    window = 3.0 if quick else 10.0
    agent: dict[str, float] = {}
    async with real_cluster(workdir, NODES) as rc:
        # The memory table reports one agent: the first node's, with the pods it ran.
        first, pid = rc.cluster.nodes[0].name, rc.agent_pids()[0]
        agent["rss0"], agent["cpu0"] = rss_mib(pid), await asyncio.to_thread(cpu_share, pid, window)
        watch = await PodWatch(rc.url).start(rc.session)
        try:
            # One warm-up pod per node pulls the image into each agent's store: the rest start cached.
            await rc.create_deployment("warm", NODES * 2)
            if not await watch.wait_count("ready", NODES * 2, 120, prefix="warm-"):
                raise TimeoutError("warm-up pods not Ready within 120s")
            await rc.check_warm("warm-")
            names = [f"p{i}" for i in range(n)]
            t_all = time.perf_counter()
            pyctl.latencies = await one_by_one(rc, watch, names)
            pyctl.wall = time.perf_counter() - t_all
            on_first = [x for x in await asyncio.gather(*(node_of(rc, m) for m in names)) if x == first]
            agent["pods"] = len(on_first)
            agent["rss1"], agent["cpu1"] = rss_mib(pid), await asyncio.to_thread(cpu_share, pid, window)
            burst = await deployment_burst(rc, watch, n)
        finally:
            watch.stop()
        raws = RawPods(Path(workdir) / "raw", rc.mirrors)
        try:
            layers = await raws.pull(rc.image)
            t_all = time.perf_counter()
            for i in range(n):
                t0 = time.perf_counter()
                await raws.start(f"raw{i}", rc.image, layers)
                raw.latencies.append(time.perf_counter() - t0)
            raw.wall = time.perf_counter() - t_all
        finally:
            await raws.remove_all()
    table = Table(f"{n} pods on {NODES} real nodes, image cached", [
        "path", "p50 ms", "p99 ms", "max ms", "n"], [
        ["pyctl: API create → Ready seen on a watch", ms(pyctl.p50), ms(pyctl.p99), ms(max(pyctl.latencies)), pyctl.count],
        [f"pyctl: Deployment of {n}, each pod first seen → Ready (all Ready in {burst.wall:.2f} s)",
         ms(burst.p50), ms(burst.p99), ms(max(burst.latencies)), burst.count],
        ["raw: netns + CNI ADD + overlay + `runc run -d`", ms(raw.p50), ms(raw.p99), ms(max(raw.latencies)), raw.count]])
    goals = Table("Goals (pods created one after another)", ["goal", "measured", "met"], [
        ["p50 within 4× raw", ratio(pyctl.p50, raw.p50), "yes" if pyctl.p50 <= 4 * raw.p50 else "no"],
        ["p99 < 500 ms", f"{ms(pyctl.p99)} ms", "yes" if pyctl.p99 < 0.5 else "no"]])
    sec = Section("podstart", f"Pod start latency on {NODES} real nodes (runc)",
                  f"A local cluster as `pyctl cluster up --nodes {NODES}` makes it: {NODES} real `pyctl-agent`s "
                  "(runc + conmon + CNI bridge), each in its own network namespace on one bridge, a secure "
                  "`pyctl-controlplane`, and a local registry with the demo image (busybox httpd), which "
                  "warm-up pods pull once on every node. Pods are created through the API one after "
                  "another, each timed until this benchmark's watch shows it Ready; then a Deployment of as "
                  "many replicas starts them all at once, each pod timed from the watch's first sight of it "
                  "(the ReplicaSet's create) to Ready. The raw path runs the same image's same config.json "
                  "directly, one pod after another, in the host's network namespace.",
                  [table, goals])
    sec.distributions = {"pod start pyctl": pyctl.latencies, "pod start pyctl (Deployment)": burst.latencies,
                         "pod start raw runc": raw.latencies}
    sec.facts = {f"agent_{k}": v for k, v in agent.items()} | {"agent_window": window,
                                                                "p50_s": pyctl.p50, "raw_p50_s": raw.p50}
    return sec
