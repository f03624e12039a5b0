"""API server throughput and latency beside raw etcd, at concurrency 1, 16 and 64.

pyctl: create / get / list (1,000 pods) / watch delivery through the real API server
(`pyctl-controlplane --components apiserver`, its own process) on a real etcd.
Baseline, same run, same etcd, same concurrency: put / get / range / watch through
controlplane.store.etcd.Store, the async client the API server itself uses. Beside the gets, a
reference: the same client's gets from bench/bareserver.py, an aiohttp server that answers
with a pod's bytes and does nothing else.

BENCH_API_WORKERS=N in the environment runs the API server with `--api-workers N` (default 1);
its CPU figures are then the sum over its processes.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from dataclasses import dataclass

import aiohttp

from controlplane.store import Store
from controlplane.store import keys

from .cluster import Etcd, Process, free_port, spawn, start_controlplane, stop_all, wait_for, wait_serving
from .procstat import cpu_seconds, family_cpu_seconds
from .profile import Profiler
from .report import Section, Table
from .stats import Samples, ms, ratio, run_load

PODS = "/api/v1/namespaces/{ns}/pods"
LIST_NS, LIST_SIZE = "bench-list", 1000
BARE = "get: bare aiohttp server (reference)"


@dataclass(frozen=True)
class Plan:
    levels: tuple[int, ...]
    ops: int  # creates/gets (and raw puts/gets) per level
    lists: int  # list calls per level
    time_limit: float  # per operation kind and level


def api_workers() -> int:
    return max(1, int(os.environ.get("BENCH_API_WORKERS", "1") or 1))


def plan(quick: bool) -> Plan:
    return Plan((1, 16, 64), 150, 20, 6.0) if quick else Plan((1, 16, 64), 1500, 100, 30.0)


def pod(name: str, ns: str = "default") -> dict:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": ns,
                                                            "labels": {"app": "bench"}},
            "spec": {"containers": [{"name": "c", "image": "pyctl/demo:1.0"}]}}


class WatchTimes:
    """Arrival time (perf_counter) of each ADDED name on a stream, from a task started first."""

    def __init__(self) -> None:
        self.seen: dict[str, float] = {}
        self.task: asyncio.Task | None = None

    async def wait_seen(self, name: str) -> None:
        await wait_for(lambda: name in self.seen, 20, f"watch event for {name}", 0.01)

    def stop(self) -> None:
        if self.task:
            self.task.cancel()


def api_watch(session: aiohttp.ClientSession, url: str) -> WatchTimes:
    w = WatchTimes()

    async def run() -> None:
        async with session.get(url + PODS.format(ns="default"), params={"watch": "1"},
                               timeout=aiohttp.ClientTimeout(total=None, sock_read=None)) as r:
            async for line in r.content:
                if line.strip():
                    ev = json.loads(line)
                    if ev["type"] == "ADDED":
                        w.seen.setdefault(ev["object"]["metadata"]["name"], time.perf_counter())
    w.task = asyncio.create_task(run())
    return w


def raw_watch(store: Store, prefix: str, revision: int) -> WatchTimes:
    w = WatchTimes()

    async def run() -> None:
        async for ev in store.watch(prefix, revision):
            if ev.created:
                w.seen.setdefault(ev.key.rsplit("/", 1)[1], time.perf_counter())
    w.task = asyncio.create_task(run())
    return w


def cpu_with_children(pid: int) -> float:
    return sum(family_cpu_seconds(pid).values())


async def busy(load, **pids: int) -> Samples:
    """Await `load` (a run_load), noting how busy each named process (and its children) was meanwhile."""
    before = {name: cpu_with_children(pid) for name, pid in pids.items()}
    samples = await load
    samples.busy = {name: (cpu_with_children(pid) - before[name]) / samples.wall for name, pid in pids.items()}
    return samples


def delivery(started: dict[str, float], seen: dict[str, float]) -> Samples:
    """Request sent → event received, for every name that was both created and seen."""
    return Samples([seen[n] - t for n, t in started.items() if n in seen])


async def start_bare(body: bytes, workdir: str) -> tuple[Process, str]:
    """bench/bareserver.py serving `body` on a free loopback port; (process, its URL)."""
    path, port, log = os.path.join(workdir, "bare-pod.json"), free_port(), os.path.join(workdir, "bareserver.log")
    with open(path, "wb") as f:
        f.write(body)
    bare = spawn("bareserver", "-m", "bench.bareserver", str(port), path, log=log)
    url = f"http://127.0.0.1:{port}"
    try:
        await wait_serving(bare, url + PODS.format(ns="default") + "/x", "bench.bareserver", 30, log)
    except BaseException:
        bare.stop()
        raise
    return bare, url


async def run(quick: bool, workdir: str, facts: dict) -> Section:
    p = plan(quick)
    etcd = Etcd().start()
    cp = bare = None
    profiler = None
    store = Store([etcd.url])
    rows: dict[tuple[str, int], tuple[Samples, Samples]] = {}
    try:
        workers = api_workers()
        cp, url, _ = await start_controlplane(etcd, "apiserver", log=os.path.join(workdir, "api-controlplane.log"),
                                              extra=("--api-workers", str(workers)) if workers > 1 else ())
        await store.open()
        conn = aiohttp.TCPConnector(limit=0)
        async with aiohttp.ClientSession(connector=conn) as s:
            async def post(path: str, body: dict) -> None:
                async with s.post(url + path, json=body) as r:
                    if r.status != 201:
                        raise RuntimeError(f"POST {path}: {r.status} {await r.text()}")
                    await r.read()

            async def get(path: str, base: str = url) -> None:
                async with s.get(base + path) as r:
                    if r.status != 200:
                        raise RuntimeError(f"GET {path}: {r.status}")
                    await r.read()

            await post("/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace",
                                              "metadata": {"name": LIST_NS}})
            setup = await run_load(lambda i: post(PODS.format(ns=LIST_NS), pod(f"l{i}", LIST_NS)),
                                   LIST_SIZE, 64, 120)
            value = json.dumps(pod("raw")).encode()
            async with s.get(url + PODS.format(ns=LIST_NS) + "/l0") as r:
                bare, bare_url = await start_bare(await r.read(), workdir)
            profiler = Profiler(cp.pid, os.path.join(workdir, "api.pyspy.txt"))
            cpu0 = (cpu_with_children(cp.pid), cpu_seconds(os.getpid()), time.perf_counter())
            for c in p.levels:
                aw, rw = api_watch(s, url), raw_watch(store, "/bench/raw/", await store.revision() + 1)
                # Both watches must be live before the timed creates: wait for a marker on each.
                await post(PODS.format(ns="default"), pod(f"marker-{c}"))
                await store.put(f"/bench/raw/marker-{c}", value)
                await aw.wait_seen(f"marker-{c}")
                await rw.wait_seen(f"marker-{c}")
                api_started: dict[str, float] = {}
                raw_started: dict[str, float] = {}

                def api_create(i: int, c=c, started=api_started):
                    started[f"c{c}-{i}"] = time.perf_counter()
                    return post(PODS.format(ns="default"), pod(f"c{c}-{i}"))

                def raw_put(i: int, c=c, started=raw_started):
                    started[f"c{c}-{i}"] = time.perf_counter()
                    return store.put(f"/bench/raw/c{c}-{i}", value)

                procs = {"api": cp.pid, "etcd": etcd.proc.pid}
                create = await busy(run_load(api_create, p.ops, c, p.time_limit), **procs)
                put = await busy(run_load(raw_put, p.ops, c, p.time_limit), etcd=etcd.proc.pid)
                await asyncio.sleep(0.5)  # let the last events arrive (they are timed by arrival)
                aw.stop()
                rw.stop()
                n = create.count
                rows["create / put", c] = create, put
                rows["get", c] = (
                    await busy(run_load(lambda i: get(PODS.format(ns="default") + f"/c{c}-{i % n}"), p.ops, c,
                                        p.time_limit), **procs),
                    await busy(run_load(lambda i: store.get(f"/bench/raw/c{c}-{i % n}"), p.ops, c, p.time_limit),
                               etcd=etcd.proc.pid))
                rows[BARE, c] = (
                    await busy(run_load(lambda i: get(PODS.format(ns="default") + f"/c{c}-{i % n}", base=bare_url),
                                        p.ops, c, p.time_limit), bare=bare.pid),
                    rows["get", c][1])
                rows[f"list {LIST_SIZE}", c] = (
                    await busy(run_load(lambda i: get(PODS.format(ns=LIST_NS)), p.lists, c, p.time_limit), **procs),
                    await busy(run_load(lambda i: store.list(keys.collection_prefix("pods", LIST_NS)),
                                        p.lists, c, p.time_limit), etcd=etcd.proc.pid))
                rows["watch delivery", c] = delivery(api_started, aw.seen), delivery(raw_started, rw.seen)
            profiler.stop()
            wall = time.perf_counter() - cpu0[2]
            cpu = ((cpu_with_children(cp.pid) - cpu0[0]) / wall, (cpu_seconds(os.getpid()) - cpu0[1]) / wall)
    finally:
        await store.close()
        stop_all(profiler, bare, cp, etcd)
    return section(p, rows, setup, profiler, cpu, workers)


def section(p: Plan, rows, setup: Samples, profiler: Profiler | None, cpu: tuple[float, float],
            workers: int = 1) -> Section:
    table = Table("API server vs raw etcd (same client library, same etcd, same concurrency)",
                  ["operation", "c", "pyctl ops/s", "pyctl p50 ms", "pyctl p99 ms", "raw etcd ops/s",
                   "raw p50 ms", "raw p99 ms", "throughput API/raw", "p50 API/raw", "n (errors)",
                   "cores busy: API server, etcd (pyctl)", "etcd cores (raw)"])
    for (op, c), (a, r) in rows.items():
        thr = "—" if op == "watch delivery" else ratio(a.throughput, r.throughput)
        table.rows.append([op, c, "—" if op == "watch delivery" else f"{a.throughput:.0f}", ms(a.p50), ms(a.p99),
                           "—" if op == "watch delivery" else f"{r.throughput:.0f}", ms(r.p50), ms(r.p99),
                           thr, ratio(a.p50, r.p50), f"{a.count}/{r.count} ({a.errors}/{r.errors})",
                           ", ".join(f"{v:.2f}" for v in a.busy.values()) or "—",
                           f"{r.busy['etcd']:.2f}" if r.busy else "—"])
    goals = Table("Goals", ["goal", "measured", "met"])
    top = max(p.levels)
    cr, pr = rows["create / put", top]
    goals.rows.append([f"creates at c={top} ≥ 40% of raw puts", ratio(cr.throughput, pr.throughput),
                       "yes" if cr.throughput >= 0.4 * pr.throughput else "no"])
    for op in ("get", f"list {LIST_SIZE}"):
        a, r = rows[op, top]
        goals.rows.append([f"{op} (watch cache) beats raw etcd at c={top}", ratio(a.throughput, r.throughput),
                           "yes" if a.throughput > r.throughput else "no"])
    sec = Section("api", "API server vs raw etcd",
                  "Each row: the operation through the API server (pods, JSON over HTTP on loopback, "
                  "from this process) beside its raw etcd counterpart through `controlplane.store.etcd.Store` "
                  "(put / get / range of the same 1,000 keys / watch) at the same concurrency `c`. "
                  "Watch delivery: from sending the create (put) to receiving its ADDED (PUT) event on a "
                  "watch opened before the creates. The row `" + BARE + "` has in pyctl's columns the same "
                  "client's gets from an aiohttp server that answers every get with one pod's bytes and does "
                  "nothing else (bench/bareserver.py, its own process, on the control plane's event loop; its "
                  "cores busy in place of the API server's), beside the same raw etcd gets: how far the "
                  "client and the machine, rather than the server's work, decide the get figures.",
                  [table, goals])
    sec.notes.append(f"Set-up: {LIST_SIZE} pods created in `{LIST_NS}` at c=64: {setup.throughput:.0f}/s "
                     f"({setup.errors} errors).")
    if workers > 1:
        sec.notes.append(f"The API server ran as {workers} processes on one port (`--api-workers {workers}`); "
                         "its cores busy are their sum.")
    sec.notes.append(f"Over the timed part, the API server process kept {cpu[0]:.2f} cores busy and this load "
                     f"generator (HTTP client, etcd client, watches) {cpu[1]:.2f}: both share the machine's cores, "
                     "as does etcd.")
    sec.distributions = {"API create c=16": rows["create / put", 16][0].latencies,
                         "raw etcd put c=16": rows["create / put", 16][1].latencies,
                         "API get c=16": rows["get", 16][0].latencies,
                         "raw etcd get c=16": rows["get", 16][1].latencies,
                         f"API list {LIST_SIZE} c=16": rows[f"list {LIST_SIZE}", 16][0].latencies,
                         "API watch delivery c=16": rows["watch delivery", 16][0].latencies}
    sec.facts = {"top_c": top} | {
        f"{key}_ratio": rows[op, top][0].throughput / rows[op, top][1].throughput
        for key, op in (("create", "create / put"), ("get", "get"), ("list", f"list {LIST_SIZE}"),
                        ("get_bare", BARE))
        if rows[op, top][1].throughput}
    if profiler is not None:
        sec.facts["profile"] = profiler.path if profiler.available else ""
    return sec
