"""Scale-up and scale-down of real pods (root): a Deployment of the demo image scaled
0→50 and 0→100 on one real node, timed until every replica is Ready, then back to 0 until
every pod is gone (quick: 0→10 and 0→20).

Reference: Docker Swarm's published figures for this kind of machine, 20→50 tasks in
3.15 s and 100 in 9.6 s; pyctl's goal is half of those.
"""

from __future__ import annotations

import asyncio
import subprocess
import time

from .cluster import wait_for
from .podwatch import PodWatch
from .realnode import RealNode, real_node
from .report import Section, Table
from .scheduler import DEPLOY, deployment

SWARM = {50: 3.15, 100: 9.6}
LIMIT = 180.0  # seconds allowed for one scaling step


def containers(node: RealNode) -> int:
    """Containers left under the agent's runc root (they outlive their API objects)."""
    out = subprocess.run(["runc", "--root", str(node.state / "runtime" / "runc"), "list", "-q"],
                         capture_output=True, text=True).stdout
    return len(out.split())


async def no_containers(node: RealNode) -> bool:
    return await asyncio.to_thread(containers, node) == 0


def live(watch: PodWatch) -> int:
    return sum(1 for t in watch.pods.values() if t.deleted is None)


def live_ready(watch: PodWatch) -> int:
    return sum(1 for t in watch.pods.values() if t.deleted is None and t.ready is not None)


async def run(quick: bool, workdir: str, facts: dict) -> Section:
    steps = (10, 20) if quick else (50, 100)
    rows = []
    async with real_node(workdir, "scaleup") as node:
        s, url = node.session, node.url
        dep = deployment("scale", 0)
        dep["spec"]["template"]["spec"]["containers"][0].update(image=node.image, resources={})
        dep["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] = 0
        async with s.post(url + DEPLOY, json=dep) as r:
            assert r.status == 201, await r.text()
        watch = await PodWatch(url).start(s)
        async def scale(n: int) -> None:
            async with s.patch(f"{url}{DEPLOY}/scale/scale", json={"spec": {"replicas": n}},
                               headers={"Content-Type": "application/merge-patch+json"}) as r:
                assert r.status == 200, await r.text()
        try:
            for n in (1, *steps):  # the first replica pulls the image; the timed steps start cached
                t0 = time.perf_counter()
                await scale(n)
                await wait_for(lambda: live_ready(watch) >= n, LIMIT, f"{n} replicas Ready", 0.05)
                up = time.perf_counter() - t0
                t0 = time.perf_counter()
                await scale(0)
                await wait_for(lambda: live(watch) == 0, LIMIT, "every replica gone", 0.05)
                down = time.perf_counter() - t0
                await wait_for(lambda: no_containers(node), LIMIT, "containers gone", 0.1)
                gone = time.perf_counter() - t0
                if n == 1:
                    continue
                ref = SWARM.get(n)
                rows.append([f"0→{n}", f"{up:.2f}", f"{down:.2f}", f"{gone:.2f}",
                             f"{ref:.2f} (goal {ref / 2:.2f})" if ref else "—",
                             f"{up / ref:.2f}×" if ref else "—"])
        finally:
            watch.stop()
    table = Table("One real node (runc), demo image cached by a 0→1→0 warm-up", [
        "scale", "s until all Ready", "s back to 0: pods gone from the API", "… and every container stopped", "Docker Swarm s (goal)", "pyctl / Swarm"], rows)
    return Section("scaleup", "Scaling a Deployment of real pods",
                   "Timed from the `scale` PATCH until this benchmark's pod watch shows every replica "
                   "Ready (up), and from the PATCH to 0 until it has seen every pod's DELETED event and until "
                   "`runc list` under the agent's root is empty (down; pods have a 0 s grace period). "
                   "The Swarm figures are published numbers for a comparable 2-core machine, not measured "
                   "here (they scale 20→50, this scales 0→50).", [table])
