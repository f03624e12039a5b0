"""Issue 20's goals, each met or not, computed from the figures this run measured.

Every benchmark leaves its figures in `facts` ("<benchmark>.<name>", e.g. "api.create_ratio");
`rows(facts)` turns them into one row per goal. A goal whose figure this run did not measure,
or measured at other sizes than the goal's (a --quick run), says "not measured" and why:
nothing here is quoted from an earlier run.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

from .report import Section, Table

SCHEDULER_SIZE = (500, 5000)  # hollow nodes, pods
PODS_PER_SECOND = 1000  # the throughput goal; the scheduler benchmark reports the CPU it would leave
TOP_C = 64


@dataclass(frozen=True)
class Row:
    figure: str
    goal: str
    measured: str
    met: str
    """"yes", "no", or "not measured: <why>"."""


def verdict(ok: bool) -> str:
    return "yes" if ok else "no"


def _missing(facts: dict, benchmark: str, *names: str) -> str:
    """Why the figures are absent ("" when all are there)."""
    absent = [n for n in names if f"{benchmark}.{n}" not in facts]
    if not absent:
        return ""
    ran = any(k.startswith(f"{benchmark}.") for k in facts)
    return (f"not measured: `{benchmark}` gave no {', '.join(absent)}" if ran
            else f"not measured: `{benchmark}` did not run")


def _finite(*values: float) -> bool:
    return all(isinstance(v, (int, float)) and math.isfinite(v) for v in values)


def throughput(f: dict) -> Row:
    figure = "pods created → bound, 5,000 pods on 500 hollow nodes (end to end: API, etcd, scheduler)"
    goal = f"≥ {PODS_PER_SECOND:,} pods/s"
    if why := _missing(f, "scheduler", "bound_rate", "cpu_ms_per_pod", "nodes", "pods"):
        return Row(figure, goal, "—", why)
    rate = f["scheduler.bound_rate"]
    budget = f.get("scheduler.cpu_budget_ms_at_goal")  # what the machine would leave it at the goal
    left = f"; {PODS_PER_SECOND:,} pods/s would leave it {budget:.2f} ms" if budget is not None else ""
    measured = f"{rate:.0f} pods/s ({f['scheduler.cpu_ms_per_pod']:.1f} ms control-plane CPU per pod{left})"
    size = (f["scheduler.nodes"], f["scheduler.pods"])
    if size != SCHEDULER_SIZE:
        return Row(figure, goal, measured, f"not measured: this run placed {size[1]} pods on {size[0]} nodes")
    if not f.get("scheduler.all_bound", True):
        return Row(figure, goal, measured, "no (not every pod was bound within the time limit)")
    return Row(figure, goal, measured, verdict(rate >= PODS_PER_SECOND))


def _api_ratio(key: str, figure: str, target: float) -> Callable[[dict], Row]:
    def row(f: dict) -> Row:
        goal = f"≥ {target:.2f}×"
        if why := _missing(f, "api", f"{key}_ratio", "top_c"):
            return Row(figure, goal, "—", why)
        value, c = f[f"api.{key}_ratio"], f["api.top_c"]
        bare = f.get(f"api.{key}_bare_ratio")  # a do-nothing server's figure, shown beside it
        measured = f"{value:.2f}× (c={c}" + (f"; bare aiohttp server, same client: {bare:.2f}×)" if bare else ")")
        if c != TOP_C:
            return Row(figure, goal, measured, f"not measured: this run went up to c={c}, not c={TOP_C}")
        return Row(figure, goal, measured, verdict(value >= target))
    return row


def swarm_ratio(f: dict) -> Row:
    figure, goal = "0→50 real pods Ready on 3 nodes / Docker Swarm 0→50 tasks running, same run", "≤ 0.50×"
    if why := _missing(f, "scaleup", "up_s", "swarm_up_s"):
        return Row(figure, goal, "—", why)
    ours, theirs = f["scaleup.up_s"].get(50), f["scaleup.swarm_up_s"].get("0→50")
    if ours is None:
        return Row(figure, goal, "—", f"not measured: this run scaled to {', '.join(map(str, f['scaleup.up_s']))} only")
    if theirs is None:
        return Row(figure, goal, f"pyctl {ours:.2f} s; Swarm —",
                   "not measured: " + (f.get("scaleup.swarm_error") or "Swarm gave no 0→50 figure"))
    return Row(figure, goal, f"{ours:.2f} s / {theirs:.2f} s = {ours / theirs:.2f}×", verdict(ours <= 0.5 * theirs))


def hundred_ready(f: dict) -> Row:
    figure, goal = "0→100 real pods Ready on 3 nodes", "≤ 3 s"
    if why := _missing(f, "scaleup", "up_s"):
        return Row(figure, goal, "—", why)
    ours, theirs = f["scaleup.up_s"].get(100), f.get("scaleup.swarm_up_s", {}).get("0→100")
    if ours is None:
        return Row(figure, goal, "—", f"not measured: this run scaled to {', '.join(map(str, f['scaleup.up_s']))} only")
    # Beside it, what the same machine needs for the container starts alone (no orchestrator).
    floor = f.get("scaleup.raw_up_s", {}).get(100)
    beside = [f"raw floor 0→100: {floor:.2f} s"] if floor is not None else []
    beside += [f"Swarm 0→100: {theirs:.2f} s"] if theirs is not None else []
    return Row(figure, goal, f"{ours:.2f} s" + (f" ({'; '.join(beside)})" if beside else ""), verdict(ours <= 3.0))


def pod_start(f: dict) -> Row:
    figure, goal = "one pod create → Ready p50 / raw netns + CNI + runc p50, same run", "≤ 1.25×"
    if why := _missing(f, "podstart", "p50_s", "raw_p50_s"):
        return Row(figure, goal, "—", why)
    ours, raw = f["podstart.p50_s"], f["podstart.raw_p50_s"]
    if not _finite(ours, raw) or raw <= 0:
        return Row(figure, goal, "—", "not measured: no pod start was timed")
    return Row(figure, goal, f"{ours * 1000:.0f} / {raw * 1000:.0f} ms = {ours / raw:.2f}×", verdict(ours <= 1.25 * raw))


def controlplane_rss(f: dict) -> Row:
    figure, goal = "control-plane RSS (both processes), 500 nodes + 5,000 pods", "≤ 500 MiB"
    if why := _missing(f, "scheduler", "controlplane_rss_loaded", "nodes", "pods"):
        return Row(figure, goal, "—", why)
    rss, size = f["scheduler.controlplane_rss_loaded"], (f["scheduler.nodes"], f["scheduler.pods"])
    if size != SCHEDULER_SIZE:
        return Row(figure, goal, f"{rss:.0f} MiB", f"not measured: this run had {size[1]} pods on {size[0]} nodes")
    return Row(figure, goal, f"{rss:.0f} MiB", verdict(rss <= 500))


def agent_rss(f: dict) -> Row:
    figure, goal = "agent RSS idle (`pyctl-agent --runtime hollow`, no pods)", "≤ 50 MiB"
    if why := _missing(f, "memory", "agent_rss_idle"):
        return Row(figure, goal, "—", why)
    rss = f["memory.agent_rss_idle"]
    real = f.get("podstart.agent_rss0")
    extra = f" (the real runc agent, idle: {real:.1f} MiB)" if real is not None else ""
    return Row(figure, goal, f"{rss:.1f} MiB{extra}", verdict(rss <= 50))


GOALS: list[Callable[[dict], Row]] = [
    throughput,
    _api_ratio("create", "API creates / raw etcd puts, same run, same concurrency", 0.40),
    _api_ratio("get", "API get (watch cache) / raw etcd get, same run", 2.0),
    _api_ratio("list", "API list of 1,000 pods (watch cache) / raw etcd range, same run", 2.0),
    swarm_ratio,
    hundred_ready,
    pod_start,
    controlplane_rss,
    agent_rss,
]


def rows(facts: dict) -> list[Row]:
    return [goal(facts) for goal in GOALS]


def section(facts: dict) -> Section:
    found = rows(facts)
    met = sum(r.met == "yes" for r in found)
    unmeasured = sum(r.met.startswith("not measured") for r in found)
    return Section("goals", "Goals (issue 20)",
                   "Each row is computed from this run's own figures in the sections below (no figure is "
                   "carried over from an earlier run); a goal this run did not measure, or measured at "
                   "other sizes than the goal's, says so.",
                   [Table("Goals (issue 20)", ["figure", "goal", "measured", "met"],
                          [[r.figure, r.goal, r.measured, r.met] for r in found])],
                   [f"{met} of {len(found)} goals met, {len(found) - met - unmeasured} not met, "
                    f"{unmeasured} not measured in this run."])
