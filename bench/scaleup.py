"""Scale-up and scale-down of real pods (root): a Deployment of the demo image on a real
3-node local cluster (`pyctl cluster up --nodes 3`), scaled 0→50 and 0→100, timed until every
replica is Ready, then back to 0 until every pod is gone (quick: 0→10 and 0→20).

Baselines, same run, same machine: the raw path's floor (bench/rawpod.py: netns + CNI ADD +
overlay + `runc run -d` for all n pods at once, no orchestrator, no conmon, no readiness), with
the whole machine's CPU per pod while it ran; and, after pyctl's cluster is down, Docker Swarm
scaling a service of the same image (bench/swarm.py), when asked (`--swarm`, or a full run).
Goal (issue 20): 0→50 in at most half of Swarm's time, and 0→100 within 3 s.
"""

from __future__ import annotations

import asyncio
import math
import sys
import time
from pathlib import Path

import aiohttp

from . import swarm
from .cluster import wait_for
from .podwatch import PodWatch
from .procstat import machine_cpu_seconds
from .rawpod import RawPods
from .realnode import RealCluster, real_cluster
from .report import Section, Table

NODES = 3
LIMIT = 180.0  # seconds allowed for one scaling step


async def no_containers(rc: RealCluster) -> bool:
    return await asyncio.to_thread(rc.containers) == 0


def live(watch: PodWatch) -> int:
    return sum(1 for t in watch.pods.values() if t.deleted is None)


def live_ready(watch: PodWatch) -> int:
    return sum(1 for t in watch.pods.values() if t.deleted is None and t.ready is not None)


async def raw_step(rc: RealCluster, workdir: str, n: int) -> tuple[float, float]:
    """(s until `runc run -d` returned for all n raw pods started at once, busy CPU-s of the
    whole machine per pod meanwhile)."""
    raws = RawPods(Path(workdir) / f"raw-{n}", rc.mirrors)
    try:
        layers = await raws.pull(rc.image)
        busy0, t0 = machine_cpu_seconds()[0], time.perf_counter()
        # Every start runs to its end before anything is removed, failed or not.
        done = await asyncio.gather(*(raws.start(f"raw{i}", rc.image, layers) for i in range(n)),
                                    return_exceptions=True)
        wall, busy = time.perf_counter() - t0, machine_cpu_seconds()[0] - busy0
    finally:
        await raws.remove_all()
    if errors := [e for e in done if isinstance(e, BaseException)]:
        raise RuntimeError(f"raw 0→{n}: {len(errors)} of {n} pods failed to start: {errors[0]}")
    return wall, busy / n


async def pyctl_steps(workdir: str, steps: tuple[int, ...]
                      ) -> tuple[dict[int, tuple[float, float, float]], dict[int, tuple[float, float]]]:
    """(n -> (s until all Ready, s until gone from the API, s until every container stopped),
    n -> the raw floor's (s, CPU-s per pod), measured on the same cluster's machine once idle)."""
    out, raw = {}, {}
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
                if n in steps:
                    out[n] = (up, down, time.perf_counter() - t0)
        finally:
            watch.stop()
        for n in steps:
            raw[n] = await raw_step(rc, workdir, n)
    return out, raw


async def swarm_steps(workdir: str, quick: bool, steps: tuple[int, ...], install: bool
                      ) -> tuple[str, list[swarm.Step], str]:
    """(Swarm's version, its steps, "") or ("", [], why it was not measured)."""
    try:
        await asyncio.to_thread(swarm.ensure_dockerd, install)
        version, done = await swarm.measure(workdir, 4 if quick else 20, steps, LIMIT)
        return version, done, ""
    except swarm.Unavailable as e:
        print(f"bench: Swarm not measurable: {e}", file=sys.stderr)
        return "", [], f"Swarm not measurable on this machine: {e}"
    except (TimeoutError, RuntimeError, OSError, aiohttp.ClientError) as e:  # it ran, but a step failed
        print(f"bench: Swarm measurement failed: {e!r}", file=sys.stderr)
        return "", [], f"Swarm measurement failed in this run: {e}"


async def run(quick: bool, workdir: str, facts: dict) -> Section:
    steps = (10, 20) if quick else (50, 100)
    ours, raw = await pyctl_steps(workdir, steps)
    if facts.get("options.swarm"):
        version, theirs, why = await swarm_steps(workdir, quick, steps, install=True)
    else:
        version, theirs, why = "", [], "Swarm not measured in this run (`python -m bench --only scaleup --swarm` measures it)"
    return section(steps, ours, raw, version, theirs, why)


def seconds(v: float) -> str:
    return "—" if math.isnan(v) else f"{v:.2f}"


def section(steps: tuple[int, ...], ours: dict[int, tuple[float, float, float]],
            raw: dict[int, tuple[float, float]], version: str, theirs: list[swarm.Step], why: str) -> Section:
    same = {s.label: s for s in theirs}
    rows = []
    for n in steps:
        up, down, gone = ours[n]
        ref = same.get(f"0→{n}")
        floor, cpu = raw.get(n, (math.nan, math.nan))
        rows.append([f"0→{n}", f"{up:.2f}", f"{down:.2f}", f"{gone:.2f}", seconds(floor),
                     "—" if math.isnan(cpu) else f"{cpu * 1000:.0f}",
                     f"{ref.up:.2f}" if ref else "not measured", f"{up / ref.up:.2f}×" if ref else "—"])
    tables = [Table(f"{NODES} real nodes (runc), demo image cached on each by a warm-up step", [
        "scale", "s until all Ready", "s back to 0: pods gone from the API", "… and every container stopped",
        "raw floor: s until all n `runc run -d` returned (same run)", "raw: machine CPU ms per pod",
        "Docker Swarm s until all running (same run)", "pyctl / Swarm"], rows)]
    notes = []
    if theirs:
        tables.append(Table(f"Docker Swarm {version} (one node: dockerd in its own network namespace), the same "
                            "image, same run", ["scale", "s until every task running", "s back to 0: every container gone"],
                            [[s.label, seconds(s.up), seconds(s.down)] for s in theirs]))
        notes.append("Swarm has no readiness: its figure is until every task's state is `running` (its container "
                     "started), polled every 0.1 s on the Engine API; pyctl's is until the watch shows every pod Ready "
                     "(the agent saw the container run and reported it), a later event.")
    else:
        notes.append(why)
    sec = Section("scaleup", f"Scaling a Deployment of real pods on {NODES} nodes",
                  f"A local cluster as `pyctl cluster up --nodes {NODES}` makes it ({NODES} real runc agents, "
                  "each in its own network namespace). Timed from the `scale` PATCH until this benchmark's pod "
                  "watch shows every replica Ready (up), and from the PATCH to 0 until it has seen every pod's "
                  "DELETED event and until `runc list` under every agent's root is empty (down; pods have a 0 s "
                  "grace period). The raw floor starts all n pods at once on the same machine once pyctl's "
                  "replicas are gone, as bench/rawpod.py does one at a time for the pod start benchmark (netns, "
                  "CNI ADD, overlay rootfs, the same config.json, `runc run -d`: no API, conmon or readiness), "
                  "timed until every `runc run -d` has returned, with the machine's busy CPU over that time "
                  "per pod. Docker Swarm runs after pyctl's cluster is down, on the same machine: a "
                  "replicated service of the same busybox httpd rootfs (imported locally, nothing pulled), "
                  "stop grace period 0 s, created with a few replicas as its warm-up, then scaled as pyctl is.",
                  tables, notes)
    sec.facts = {"up_s": {n: v[0] for n, v in ours.items()}, "raw_up_s": {n: v[0] for n, v in raw.items()},
                 "raw_cpu_s_per_pod": {n: v[1] for n, v in raw.items()},
                 "swarm_up_s": {s.label: s.up for s in theirs}, "swarm_error": "" if theirs else why}
    return sec
