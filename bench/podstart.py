"""Pod start latency on a real node (root): create → Ready through pyctl, one pod at a time,
with the image already cached, beside the raw path (bench/rawpod.py: netns + CNI ADD +
overlay + `runc run -d` of the same image) measured in the same run.

Goal: pyctl's p50 within 4× the raw p50, and p99 under 500 ms.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path

from .podwatch import PodWatch
from .procstat import cpu_share, rss_mib
from .rawpod import RawPods
from .realnode import PODS, free_cidr, real_node
from .report import Section, Table
from .stats import Samples, ms, ratio


def pod(name: str, image: str) -> dict:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
            "spec": {"terminationGracePeriodSeconds": 0, "containers": [{"name": "web", "image": image}]}}


async def run(quick: bool, workdir: str, facts: dict) -> Section:
    n = 10 if quick else 30
    pyctl, raw = Samples(), Samples()
    window = 3.0 if quick else 10.0
    agent: dict[str, float] = {}
    async with real_node(workdir, "podstart") as node:
        agent["rss0"], agent["cpu0"] = rss_mib(node.agent.pid), await asyncio.to_thread(cpu_share, node.agent.pid, window)
        watch = await PodWatch(node.url).start(node.session)
        try:
            async def start(name: str) -> float:
                t0 = time.perf_counter()
                async with node.session.post(node.url + PODS, json=pod(name, node.image)) as r:
                    if r.status != 201:
                        raise RuntimeError(f"create pod: {r.status} {await r.text()}")
                if not await watch.wait_count("ready", 1, 60, prefix=name):
                    raise TimeoutError(f"pod {name} not Ready within 60s")
                return watch.pods[name].ready - t0

            await start("warm")  # pulls the image into the agent's store: the rest start cached
            t_all = time.perf_counter()
            pyctl.latencies = [await start(f"p{i}") for i in range(n)]
            pyctl.wall = time.perf_counter() - t_all
            agent["pods"] = n + 1
            agent["rss1"], agent["cpu1"] = rss_mib(node.agent.pid), await asyncio.to_thread(cpu_share, node.agent.pid, window)
        finally:
            watch.stop()
        tag = uuid.uuid4().hex[:6]
        raws = RawPods(Path(workdir) / "raw", free_cidr(), f"pyr{tag}", f"pyctl-bench-{tag}")
        try:
            layers = await raws.pull(node.image)
            t_all = time.perf_counter()
            for i in range(n):
                t0 = time.perf_counter()
                await raws.start(f"raw{i}", node.image, layers)
                raw.latencies.append(time.perf_counter() - t0)
            raw.wall = time.perf_counter() - t_all
        finally:
            await raws.remove_all()
    table = Table(f"{n} pods started one after another, image cached", [
        "path", "p50 ms", "p99 ms", "max ms", "n"], [
        ["pyctl: API create → Ready seen on a watch", ms(pyctl.p50), ms(pyctl.p99), ms(max(pyctl.latencies)), pyctl.count],
        ["raw: netns + CNI ADD + overlay + `runc run -d`", ms(raw.p50), ms(raw.p99), ms(max(raw.latencies)), raw.count]])
    goals = Table("Goals", ["goal", "measured", "met"], [
        ["p50 within 4× raw", ratio(pyctl.p50, raw.p50), "yes" if pyctl.p50 <= 4 * raw.p50 else "no"],
        ["p99 < 500 ms", f"{ms(pyctl.p99)} ms", "yes" if pyctl.p99 < 0.5 else "no"]])
    sec = Section("podstart", "Pod start latency on a real node (runc)",
                  "One real `pyctl-agent` (runc + conmon + CNI bridge) on this machine, registered with a "
                  "`pyctl-controlplane`; the demo image (busybox httpd) comes from a local registry and is "
                  "pulled once by a warm-up pod. Each pod is created through the API and timed until a "
                  "watch shows it Ready; the raw path runs the same image's same config.json directly.",
                  [table, goals])
    sec.distributions = {"pod start pyctl": pyctl.latencies, "pod start raw runc": raw.latencies}
    sec.facts = {f"agent_{k}": v for k, v in agent.items()} | {"agent_window": window}
    return sec
