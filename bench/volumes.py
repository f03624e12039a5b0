"""What size enforcement costs a local volume: a loop-mounted ext4 image per volume against a
plain directory (the `none` enforcement) on the same filesystem, in the same run.

Made, deleted and mounted again (after a reboot) through the agent's own LocalVolumes, then
written: a large sequential write ended by fsync, and small synced writes (a database's commit
pattern). The ratios are loop / plain, so they survive a noisy machine. Everything lives in a
temporary directory and is unmounted and deleted at the end.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import time
from pathlib import Path

from agent.network.netns import mounts_under
from agent.volumes import loopfs
from agent.volumes.local import LocalVolumes
from pyctl_proto import node_pb2 as pb

from .report import Section, Table
from .stats import percentile

MiB = 2**20


def _ms(values: list[float]) -> str:
    return f"{percentile(values, 50) * 1000:.1f} / {percentile(values, 99) * 1000:.1f}"


def _timed(fn, *args) -> float:  # type: ignore[no-untyped-def]
    t0 = time.perf_counter()
    fn(*args)
    return time.perf_counter() - t0


def _sequential(path: Path, size: int) -> float:
    """Seconds to write `size` bytes and fsync them."""
    block = os.urandom(MiB)
    t0 = time.perf_counter()
    with open(path / "big", "wb") as f:
        for _ in range(size // MiB):
            f.write(block)
        f.flush()
        os.fsync(f.fileno())
    took = time.perf_counter() - t0
    (path / "big").unlink()
    return took


def _commits(path: Path, count: int) -> list[float]:
    """Latency of each 4 KiB append + fsync."""
    page, out = os.urandom(4096), []
    fd = os.open(path / "journal", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        for _ in range(count):
            t0 = time.perf_counter()
            os.write(fd, page)
            os.fsync(fd)
            out.append(time.perf_counter() - t0)
    finally:
        os.close(fd)
    (path / "journal").unlink()
    return out


def _measure(base: Path, quick: bool) -> tuple[dict[str, dict[str, list[float]]], dict[str, int]]:
    count, size = (4, 64 * MiB) if quick else (16, 256 * MiB)
    write, commits = (64 * MiB, 100) if quick else (256 * MiB, 500)
    results: dict[str, dict[str, list[float]]] = {}
    for mode in ("none", "loop"):
        root = base / mode
        vols = LocalVolumes(root, capacity=count * size * 2, enforcement=mode)
        names = [f"pvc-bench-{i}" for i in range(count)]
        r: dict[str, list[float]] = {"make": [], "delete": [], "remount": [], "sequential": [], "commit": []}
        for n in names:
            r["make"].append(_timed(vols.ensure, n, str(root / n), size, "bench/claim"))
        if mode == "loop":
            for n in names:  # a reboot: unmounted; the agent's restore mounts them again
                loopfs.unmount(root / n)
            t0 = time.perf_counter()
            vols.restore()
            r["remount"].append((time.perf_counter() - t0) / count)
        r["sequential"].append(_sequential(root / names[0], write))
        r["commit"] = _commits(root / names[0], commits)
        report = vols.reconcile(pb.NodeVolumes(volumes=[pb.LocalVolume(name=n, path=str(root / n),
                                                                       action=pb.LocalVolume.DELETE)
                                                        for n in names[:1]]), lambda path: "")
        assert all(s.phase == pb.VolumeState.DELETED for s in report.volumes), report
        for n in names[1:]:
            r["delete"].append(_timed(vols.delete, n, str(root / n)))
        results[mode] = r
    return results, {"count": count, "size": size, "write": write, "commits": commits}


async def run(quick: bool, workdir: str, facts: dict[str, object]) -> Section:
    base = Path(workdir) / "volumes"
    why_not = loopfs.available()
    sec = Section("volumes", "Local volumes: the cost of enforcing their size",
                  "Each local PersistentVolume of the built-in provisioner is an ext4 image, fallocated in full "
                  "and loop-mounted on its directory (agent/volumes/loopfs.py); the alternative is a plain "
                  "directory whose size is only recorded. Both through the agent's LocalVolumes, on the same "
                  "filesystem, in this run.")
    if why_not:
        sec.notes.append(f"Skipped: {why_not}.")
        return sec
    try:
        r, n = await asyncio.to_thread(_measure, base, quick)
    finally:
        for target in mounts_under(base):
            loopfs.unmount(Path(target))
        shutil.rmtree(base, ignore_errors=True)
    loop, plain = r["loop"], r["none"]
    seq = {m: n["write"] / r[m]["sequential"][0] / MiB for m in ("loop", "none")}
    commit = {m: percentile(r[m]["commit"], 50) for m in ("loop", "none")}
    sec.tables.append(Table(
        f"{n['count']} volumes of {n['size'] // MiB} MiB each",
        ["operation", "plain directory p50 / p99 ms", "loop-mounted ext4 p50 / p99 ms", "loop / plain (p50)"],
        [["make (ensure)", _ms(plain["make"]), _ms(loop["make"]),
          f"{percentile(loop['make'], 50) / percentile(plain['make'], 50):.0f}×"],
         ["delete", _ms(plain["delete"]), _ms(loop["delete"]),
          f"{percentile(loop['delete'], 50) / percentile(plain['delete'], 50):.0f}×"],
         ["mount again after a reboot (per volume)", "-", _ms(loop["remount"]), "-"]]))
    sec.tables.append(Table(
        "Writing inside a volume", ["workload", "plain directory", "loop-mounted ext4", "loop / plain"],
        [[f"sequential {n['write'] // MiB} MiB + fsync (MiB/s)", f"{seq['none']:.0f}", f"{seq['loop']:.0f}",
          f"{seq['loop'] / seq['none']:.2f}×"],
         [f"{n['commits']} × (4 KiB append + fsync), p50 ms", f"{commit['none'] * 1000:.2f}",
          f"{commit['loop'] * 1000:.2f}", f"{commit['loop'] / commit['none']:.2f}×"]]))
    sec.notes.append(f"An image is {loopfs.image_size(n['size']) / n['size']:.2f}× the size asked at "
                     f"{n['size'] // MiB} MiB ({loopfs.image_size(2**30) / 2**30:.3f}× at 1 GiB): ext4's journal "
                     "and inode tables, so the asked size is usable.")
    facts["loop_make_p50"] = percentile(loop["make"], 50)
    return sec
