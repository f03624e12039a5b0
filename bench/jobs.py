"""A Job of 1,000 completions (parallelism 100) on 100 hollow nodes (quick: 100 completions,
parallelism 20, 10 nodes), through the whole control plane, against a baseline measured in the
same run on the same cluster: a ReplicaSet creating as many pods.

Hollow pods of the Job exit 0 as soon as they start (`pyctl.io/hollow-run-seconds: "0"`), so the
Job's duration is the control plane's own work per completion: create, schedule, bind, run,
report Succeeded, count it (uncountedTerminatedPods, remove the tracking finalizer, the counter)
and create the next pod. The ReplicaSet's pods run on: its figure is create, schedule, bind, run,
report Running. CPU is both control-plane processes' (the API server and its components child).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

import aiohttp

from .cluster import Etcd, start_controlplane, start_hollow_nodes, stop_all, wait_for
from .procstat import family_cpu_seconds
from .report import Section, Table
from .scheduler import ready_nodes

JOBS = "/apis/batch/v1/namespaces/default/jobs"
RS = "/apis/apps/v1/namespaces/default/replicasets"
PODS = "/api/v1/namespaces/default/pods"


@dataclass(frozen=True)
class Plan:
    nodes: int
    completions: int
    parallelism: int
    limit: float  # seconds allowed for each scenario


def plan(quick: bool) -> Plan:
    return Plan(10, 100, 20, 120) if quick else Plan(100, 1000, 100, 900)


def _template(app: str, run_seconds: str | None, restart: str) -> dict:
    meta: dict = {"labels": {"app": app}}
    if run_seconds is not None:
        meta["annotations"] = {"pyctl.io/hollow-run-seconds": run_seconds}
    return {"metadata": meta, "spec": {"restartPolicy": restart, "containers": [
        {"name": "c", "image": "busybox", "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}}}]}}


def job(p: Plan) -> dict:
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "bench-job"},
            "spec": {"completions": p.completions, "parallelism": p.parallelism,
                     "template": _template("bench-job", "0", "Never")}}


def replicaset(p: Plan) -> dict:
    return {"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": "bench-rs"},
            "spec": {"replicas": p.completions, "selector": {"matchLabels": {"app": "bench-rs"}},
                     "template": _template("bench-rs", None, "Always")}}


async def _get(s: aiohttp.ClientSession, url: str) -> dict:
    async with s.get(url) as r:
        return await r.json()


def _cpu(pid: int) -> float:
    return sum(family_cpu_seconds(pid).values())


async def _timed(s: aiohttp.ClientSession, url: str, pid: int, path: str, body: dict, done, limit: float,
                 what: str) -> tuple[float, float]:
    """(wall seconds, control-plane CPU seconds) from the create until `done(object)` holds."""
    cpu0, t0 = _cpu(pid), time.perf_counter()
    async with s.post(url + path, json=body) as r:
        if r.status != 201:
            raise RuntimeError(f"create {what}: {r.status} {await r.text()}")

    async def finished() -> bool:
        return done(await _get(s, f"{url}{path}/{body['metadata']['name']}"))
    await wait_for(finished, limit, what, 0.2)
    return time.perf_counter() - t0, _cpu(pid) - cpu0


def _complete(j: dict) -> bool:
    return any(c.get("type") == "Complete" and c.get("status") == "True"
               for c in (j.get("status") or {}).get("conditions") or [])


async def run(quick: bool, workdir: str, facts: dict) -> Section:
    p = plan(quick)
    etcd = Etcd().start()
    cp = nodes = None
    try:
        cp, url, gw = await start_controlplane(etcd, log=os.path.join(workdir, "jobs-controlplane.log"))
        nodes = start_hollow_nodes(gw, p.nodes, "jobnode", log=os.path.join(workdir, "jobs-hollow.log"))
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as s:
            async def enough() -> bool:
                return await ready_nodes(s, url) >= p.nodes
            await wait_for(enough, 300, f"{p.nodes} hollow nodes Ready", 1.0)
            rs_wall, rs_cpu = await _timed(
                s, url, cp.pid, RS, replicaset(p),
                lambda rs: (rs.get("status") or {}).get("readyReplicas", 0) >= p.completions,
                p.limit, f"ReplicaSet of {p.completions} Ready")
            async with s.delete(f"{url}{RS}/bench-rs") as r:
                assert r.status == 200, await r.text()

            async def rs_pods_gone() -> bool:
                listed = await _get(s, f"{url}{PODS}?labelSelector=app%3Dbench-rs&limit=1")
                return not listed.get("items")
            await wait_for(rs_pods_gone, p.limit, "the ReplicaSet's pods gone", 0.5)
            job_wall, job_cpu = await _timed(s, url, cp.pid, JOBS, job(p), _complete, p.limit,
                                             f"Job of {p.completions} completions Complete")
            final = await _get(s, f"{url}{JOBS}/bench-job")
            pods = await _get(s, f"{url}{PODS}?labelSelector=job-name%3Dbench-job")
    finally:
        stop_all(nodes, cp, etcd)
    st = final.get("status") or {}
    made = len(pods.get("items") or [])
    per_rs, per_job = rs_cpu / p.completions * 1000, job_cpu / p.completions * 1000
    table = Table(f"{p.completions} pods on {p.nodes} hollow nodes: a ReplicaSet (baseline) and a Job "
                  f"(parallelism {p.parallelism})", ["measure", "ReplicaSet (baseline)", "Job", "Job / baseline"], [
        ["s from the create until done (all Ready / Complete)", f"{rs_wall:.1f}", f"{job_wall:.1f}",
         f"{job_wall / rs_wall:.2f}×"],
        ["pods per second", f"{p.completions / rs_wall:.0f}", f"{p.completions / job_wall:.0f}",
         f"{rs_wall / job_wall:.2f}×"],
        ["control-plane CPU s (both processes)", f"{rs_cpu:.1f}", f"{job_cpu:.1f}", f"{job_cpu / rs_cpu:.2f}×"],
        ["control-plane CPU ms per pod", f"{per_rs:.1f}", f"{per_job:.1f}", f"{per_job / per_rs:.2f}×"],
        ["control-plane cores busy (CPU s / wall s)", f"{rs_cpu / rs_wall:.2f}", f"{job_cpu / job_wall:.2f}", "—"],
    ])
    sec = Section("jobs", "A Job of many completions on hollow nodes",
                  __doc__.split("\n\n", 1)[1].replace("\n", " ").strip(), [table])
    sec.notes.append(f"The Job ended with succeeded={st.get('succeeded')}, failed={st.get('failed', 0)}; "
                     f"it created {made} pods (exactly one per completion: none was counted twice or "
                     "replaced without need).")
    sec.notes.append(f"A Job pod's lifetime is its whole round trip through the control plane; with "
                     f"parallelism {p.parallelism}, {p.completions} completions take at least "
                     f"{p.completions // p.parallelism} such round trips one after another.")
    sec.facts = {"job_s": job_wall, "rs_s": rs_wall, "job_cpu_ms_per_pod": per_job, "rs_cpu_ms_per_pod": per_rs}
    return sec
