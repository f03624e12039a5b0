"""RSS and CPU time of a process, or of a process and its descendants, from /proc (no psutil).

`pyctl-controlplane` is two processes (the API server, and its child running the scheduler,
controllers and gateway): its figures are the `family_*` sums.
"""

from __future__ import annotations

import os
import time


def rss_mib(pid: int) -> float:
    """Resident set size in MiB (VmRSS of /proc/PID/status)."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time the process (all its threads) has used."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime


def family(pid: int) -> list[int]:
    """`pid` and its live descendants, parents first (children from /proc/PID/task/*/children)."""
    out, i = [pid], 0
    while i < len(out):
        try:
            tasks = os.listdir(f"/proc/{out[i]}/task")
        except OSError:
            tasks = []
        for tid in tasks:
            try:
                with open(f"/proc/{out[i]}/task/{tid}/children") as f:
                    out += [int(c) for c in f.read().split()]
            except OSError:
                pass  # the task or the process just ended
        i += 1
    return out


def family_cpu_seconds(pid: int) -> dict[int, float]:
    """CPU seconds so far of `pid` and of each live descendant, by pid."""
    out = {}
    for p in family(pid):
        try:
            out[p] = cpu_seconds(p)
        except OSError:
            pass
    return out


def family_rss_mib(pid: int) -> float:
    """The RSS of `pid` and its live descendants, summed (shared pages count in each)."""
    total = 0.0
    for p in family(pid):
        try:
            total += rss_mib(p)
        except OSError:
            pass
    return total


def cpu_share(pid: int, window: float, with_children: bool = False) -> float:
    """Fraction of one core the process (and its children) used over the next `window` seconds (blocking)."""
    def used() -> float:
        return sum(family_cpu_seconds(pid).values()) if with_children else cpu_seconds(pid)
    c0, t0 = used(), time.monotonic()
    time.sleep(window)
    return (used() - c0) / (time.monotonic() - t0)


def machine_cpu_seconds() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine so far, all cores, from /proc/stat."""
    with open("/proc/stat") as f:
        values = [int(v) for v in f.readline().split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    tick = os.sysconf("SC_CLK_TCK")
    return (sum(values) - idle) / tick, sum(values) / tick
