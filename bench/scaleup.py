"""Scale-up and scale-down of real pods (root): a Deployment of the demo image on a real
3-node local cluster (`pyctl cluster up --nodes 3`), scaled 0→50 and 0→100, timed until every
replica is Ready, then back to 0 until every pod is gone (quick: 0→10 and 0→20).

Reference: Docker Swarm's published figures for this kind of machine, 20→50 tasks in
3.15 s and 100 in 9.6 s; pyctl's goal is half of those.
"""

from __future__ import annotations

import asyncio
import time

from .cluster import wait_for
from .podwatch import PodWatch
from .realnode import RealCluster, real_cluster
from .report import Section, Table

NODES = 3
SWARM = {50: 3.15, 100: 9.6}
LIMIT = 180.0  # seconds allowed for one scaling step


async def no_containers(rc: RealCluster) -> bool:
    return await asyncio.to_thread(rc.containers) == 0


def live(watch: PodWatch) -> int:
    return sum(1 for t in watch.pods.values() if t.deleted is None)


def live_ready(watch: PodWatch) -> int:
    return sum(1 for t in watch.pods.values() if t.deleted is None and t.ready is not None)


async def run(quick: bool, workdir: str, facts: dict) -> Section:
    steps = (10, 20) if quick else (50, 100)
    rows = []
    async with real_cluster(workdir, NODES) as rc:
        await rc.create_deployment("scale", 0)
        watch = await PodWatch(rc.url).start(rc.session)
        try:
            # The first step (one replica per node, at least) pulls the image; the timed steps start cached.
            for n in (NODES * 2, *steps):
                t0 = time.perf_counter()
                await rc.scale("scale", n)
                await wait_for(lambda: live_ready(watch) >= n, LIMIT, f"{n} replicas Ready", 0.05)
                up = time.perf_counter() - t0
                if n not in steps:
                    await rc.check_warm("scale-")
                t0 = time.perf_counter()
                await rc.scale("scale", 0)
                await wait_for(lambda: live(watch) == 0, LIMIT, "every replica gone", 0.05)
                down = time.perf_counter() - t0
                await wait_for(lambda: no_containers(rc), LIMIT, "containers gone", 0.1)
                gone = time.perf_counter() - t0
                if n not in steps:
                    continue
                ref = SWARM.get(n)
                rows.append([f"0→{n}", f"{up:.2f}", f"{down:.2f}", f"{gone:.2f}",
                             f"{ref:.2f} (goal {ref / 2:.2f})" if ref else "—",
                             f"{up / ref:.2f}×" if ref else "—"])
        finally:
            watch.stop()
    table = Table(f"{NODES} real nodes (runc), demo image cached on each by a warm-up step", [
        "scale", "s until all Ready", "s back to 0: pods gone from the API", "… and every container stopped", "Docker Swarm s (goal)", "pyctl / Swarm"], rows)
    return Section("scaleup", f"Scaling a Deployment of real pods on {NODES} nodes",
                   f"A local cluster as `pyctl cluster up --nodes {NODES}` makes it ({NODES} real runc agents, "
                   "each in its own network namespace). Timed from the `scale` PATCH until this benchmark's pod "
                   "watch shows every replica Ready (up), and from the PATCH to 0 until it has seen every pod's "
                   "DELETED event and until `runc list` under every agent's root is empty (down; pods have a 0 s "
                   "grace period). The Swarm figures are published numbers for a comparable 2-core machine, not "
                   "measured here (they scale 20→50, this scales 0→50).", [table])
