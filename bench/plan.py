"""`pyctl plan` on hollow nodes: how long the API server takes to answer a Plan of 1,000
replicas against 500 hollow nodes (quick: 100 against 20), beside baselines measured in the
same run:

* the scheduler's own per-pod work in this process — `schedule()` and `assume`, one replica
  after the other, on a Snapshot built from the same nodes and pods;
* the planner itself in this process (`schedule_many`: the same decisions, each node's
  verdict kept until it changes), so the HTTP answer's wall time can be split into the
  planning and the rest (snapshot, dry-run create, JSON, sharing the API server's cores);
* the real scheduler placing the same number of replicas (a Deployment created, timed until
  its last pod is bound).

Plans are timed on the empty cluster (the first one parses every node and pod: "cold"), and
again once the real Deployment's pods run. Also: what the scheduler adds per pod — the
explanation of a pod that fits nowhere beside the `schedule()` call that found no node, and
the scores record a binding carries beside the `schedule()` call that chose the node.
"""

from __future__ import annotations

import os
import random
import time

import aiohttp

from controlplane.machinery import placement
from controlplane.machinery.meta import now_rfc3339
from controlplane.resources.kinds.pod import POD
from controlplane.scheduler import DEFAULT_PROFILE, PodInfo, Snapshot, planner, schedule, verdict
from controlplane.scheduler.workloads import replica_pod, workload
from controlplane.scheduler.planner import nth_replica

from .cluster import Etcd, start_controlplane, start_hollow_nodes, stop_all, wait_for
from .podwatch import PodWatch
from .report import Section, Table
from .scheduler import DEPLOY, deployment, ready_nodes
from .stats import ms

PLANS = "/apis/pyctl.io/v1alpha1/namespaces/default/plans"
REPEATS = 5


def sizes(quick: bool) -> tuple[int, int]:
    return (20, 100) if quick else (500, 1000)


async def _plan(s: aiohttp.ClientSession, url: str, replicas: int) -> tuple[float, dict]:
    body = {"apiVersion": "pyctl.io/v1alpha1", "kind": "Plan", "spec": {"workloads": [deployment("planned", replicas)]}}
    t0 = time.perf_counter()
    async with s.post(url + PLANS, json=body) as r:
        answer = await r.json()
        if r.status != 201:
            raise RuntimeError(f"plan: {r.status} {answer}")
    return time.perf_counter() - t0, answer["status"]["workloads"][0]


async def _snapshot(s: aiohttp.ClientSession, url: str) -> Snapshot:
    async with s.get(url + "/api/v1/nodes") as r:
        nodes = (await r.json())["items"]
    async with s.get(url + "/api/v1/pods") as r:
        pods = (await r.json())["items"]
    return Snapshot.build(nodes, pods)


def _in_process(snap: Snapshot, replicas: int) -> float:
    """Seconds for `schedule()` + `assume` of `replicas` replicas, as a plan runs them."""
    pod = deployment("inproc", replicas)["spec"]["template"]
    info = PodInfo.from_pod({"metadata": {"name": "inproc", "namespace": "default", **pod["metadata"],
                                          "ownerReferences": [{"uid": "x", "controller": True}]},
                             "spec": pod["spec"]})
    rng, start = random.Random(1), 0
    t0 = time.process_time()
    for i in range(replicas):
        replica = nth_replica(info, i)
        d = schedule(replica, snap, DEFAULT_PROFILE, rng, start)
        start += d.examined
        if d.node is not None:
            snap.assume(replica, d.node)
    return time.process_time() - t0


def _planner(snap: Snapshot, replicas: int) -> float:
    """CPU seconds of the planner itself (what the API server runs in its worker thread) for
    the same Deployment, in this process: schedule_many, each node's verdict kept."""
    obj = deployment("inproc", replicas)
    w = workload(obj, "default")
    pod = replica_pod(w, "plan:inproc")
    POD.default(pod)
    t0 = time.process_time()
    result = planner.plan(w, pod, snap, DEFAULT_PROFILE, rng=random.Random(1), now="")
    took = time.process_time() - t0
    assert result["placed"] == replicas, result["message"]
    return took


def _record_cost(snap: Snapshot) -> tuple[float, float, int]:
    """(schedule() s, the bound pod's scores record s, its size in bytes): what the scheduler
    adds per bound pod, averaged over 200 decisions."""
    info = PodInfo.from_pod({"metadata": {"name": "r", "namespace": "default", "labels": {"app": "r"}},
                             "spec": {"containers": [{"name": "c", "image": "x"}]}})
    t0 = time.process_time()
    decisions = [schedule(info, snap, DEFAULT_PROFILE, random.Random(i), i * 7) for i in range(200)]
    t1 = time.process_time()
    records = [placement.encode(verdict.scheduled(d, now=now_rfc3339())) for d in decisions]
    return (t1 - t0) / 200, (time.process_time() - t1) / 200, len(records[0])


def _explain_cost(snap: Snapshot) -> tuple[float, float]:
    """(schedule() s, explanation s) for a pod no node can hold, averaged over 20 tries."""
    info = PodInfo.from_pod({"metadata": {"name": "huge", "namespace": "default"}, "spec": {
        "nodeSelector": {"disk": "ssd"},
        "containers": [{"name": "c", "image": "x", "resources": {"requests": {"memory": "100Ti"}}}]}})
    t0 = time.process_time()
    for _ in range(20):
        schedule(info, snap, DEFAULT_PROFILE)
    t1 = time.process_time()
    for _ in range(20):
        verdict.explain(info, snap, DEFAULT_PROFILE, now="")
    return (t1 - t0) / 20, (time.process_time() - t1) / 20


async def run(quick: bool, workdir: str, facts: dict) -> Section:
    nodes, replicas = sizes(quick)
    etcd = Etcd().start()
    cp = hollow = watch = None
    r: dict = {}
    try:
        cp, url, gw = await start_controlplane(etcd, log=os.path.join(workdir, "plan-controlplane.log"))
        hollow = start_hollow_nodes(gw, nodes, log=os.path.join(workdir, "plan-hollow-nodes.log"))
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as s:
            await wait_for(lambda: _enough(s, url, nodes), 300, f"{nodes} hollow nodes Ready", 1.0)
            r["cold"], first = await _plan(s, url, replicas)
            r["empty"] = [(await _plan(s, url, replicas))[0] for _ in range(REPEATS)]
            r["placed_empty"] = first["placed"]
            r["inproc"] = _in_process(await _snapshot(s, url), replicas)
            r["sched_none"], r["explain"] = _explain_cost(await _snapshot(s, url))
            r["sched_one"], r["record"], r["record_bytes"] = _record_cost(await _snapshot(s, url))
            watch = await PodWatch(url).start(s)
            t0 = time.perf_counter()
            async with s.post(url + DEPLOY, json=deployment("real", replicas)) as resp:
                if resp.status != 201:
                    raise RuntimeError(f"create deployment: {resp.status} {await resp.text()}")
            if not await watch.wait_count("bound", replicas, 300, prefix="real-"):
                raise TimeoutError(f"{replicas} pods not bound within 300 s")
            r["real"] = time.perf_counter() - t0
            # Plans once the agents have reported the pods Running: the API server is as busy as
            # it is in the steady state (heartbeats), not with the new pods' status writes.
            await watch.wait_count("running", replicas, 300, prefix="real-")
            loaded = [await _plan(s, url, replicas) for _ in range(REPEATS)]
            r["loaded"] = [t for t, _ in loaded]
            r["placed_loaded"] = loaded[-1][1]["placed"]
            r["inproc_loaded"] = _in_process(await _snapshot(s, url), replicas)
            r["planner"] = _planner(await _snapshot(s, url), replicas)
    finally:
        stop_all(watch, hollow, cp, etcd)
    return section(nodes, replicas, r)


async def _enough(s: aiohttp.ClientSession, url: str, n: int) -> bool:
    return await ready_nodes(s, url) >= n


def _med(values: list[float]) -> float:
    return sorted(values)[len(values) // 2]


def section(nodes: int, replicas: int, r: dict) -> Section:
    empty, loaded = _med(r["empty"]), _med(r["loaded"])
    per_pod = r["inproc"] / replicas
    table = Table(f"A Plan of a Deployment of {replicas} replicas against {nodes} hollow nodes",
                  ["measure", "value"], [
                      ["plan answered, first (parses every node): ms", f"{ms(r['cold'])}"],
                      [f"plan answered, median of {REPEATS}, empty cluster: ms", f"{ms(empty)}"],
                      [f"plan answered, median of {REPEATS}, {replicas} pods already placed: ms", f"{ms(loaded)}"],
                      ["replicas the plan placed (empty / loaded cluster)",
                       f"{r['placed_empty']} / {r['placed_loaded']}"],
                      [f"baseline: the scheduler's schedule() + assume, one replica after the other, {replicas} replicas, in this process, CPU ms "
                       "(empty / loaded)", f"{ms(r['inproc'])} / {ms(r['inproc_loaded'])}"],
                      ["baseline: the scheduler's own CPU per replica, ms", f"{per_pod * 1000:.3f}"],
                      ["plan wall time / in-process schedule() CPU of the same replicas (empty / loaded)",
                       f"{empty / r['inproc']:.2f}× / {loaded / r['inproc_loaded']:.2f}×"],
                      ["the planner itself (schedule_many, as the API server runs it) in this process, "
                       "loaded cluster, CPU ms", f"{ms(r['planner'])}"],
                      ["planner CPU / one-by-one schedule() CPU of the same replicas (loaded)",
                       f"{r['planner'] / r['inproc_loaded']:.2f}×"],
                      [f"the real scheduler placing {replicas} replicas (Deployment created → last bound): s",
                       f"{r['real']:.2f}"],
                      ["plan / real placement of the same replicas", f"{loaded / r['real']:.3f}×"],
                      [f"a pod that fits nowhere, on {nodes} nodes: schedule() / explanation of every filter "
                       "on every node, CPU ms", f"{r['sched_none'] * 1000:.2f} / {r['explain'] * 1000:.2f}"],
                      [f"a pod that fits, on {nodes} nodes: schedule() / the scores record its binding carries, "
                       "CPU µs (record size)", f"{r['sched_one'] * 1e6:.0f} / {r['record'] * 1e6:.0f} "
                                               f"({r['record_bytes']} bytes)"],
                  ])
    sec = Section("plan", "Plan: the scheduler's dry run",
                  "A Plan (`POST /apis/pyctl.io/v1alpha1/namespaces/default/plans`, what `pyctl plan` sends) "
                  "decides every replica with the scheduler's framework and plugins (`schedule_many`: the "
                  "decisions `schedule()` would make one by one, each node's verdict kept until it changes) "
                  "on a Snapshot of the API server's watch cache, and answers with where each would go; "
                  "nothing is written. Plan times are this process's wall clock around the HTTP request "
                  "(the API server plans in a worker thread); the in-process baselines are CPU time in "
                  "this process.",
                  [table])
    sec.facts = {"plan_ms": empty * 1000, "plan_loaded_ms": loaded * 1000}
    return sec
