"""HollowRuntime: a simulated runtime for tests and scale benchmarks (kubemark's hollow node).

Nothing runs. Containers "start" at once and report Running and Ready, with container
IDs `hollow://...` and pod IPs from a range given per node (by default inside
198.18.0.0/15, the block reserved for benchmarks, so they are never real addresses).
Deletion and restartPolicy are honoured; a pod can ask its containers to exit with the
annotations below, to exercise restarts:

    pyctl.io/hollow-run-seconds: "2"   # each run exits after 2 s (default: runs forever)
    pyctl.io/hollow-exit-code: "1"     # with this exit code (default 0)
    pyctl.io/hollow-probe-fail: "liveness,readiness"  # these probe kinds fail (others succeed)

Each run also writes a small SYNTHETIC log (CRI k8s-file format, every line marked
"[hollow]") into a temporary directory, so `pyctl logs` / `kubectl logs` work end to end
without root: three lines when the run starts, one when it exits.

Resource usage (metrics.k8s.io, `kubectl top`) is simulated too: each running container uses
a steady share of its request (10-40% of its CPU request or of 100m, 30-60% of its memory
request or of 64Mi, picked from its pod's uid) with a little noise, and the node 100m and
300Mi on top of its pods. Annotations set it exactly, as a constant or as phases since the run
started (value, seconds, value, ...), to drive an autoscaler in tests:

    pyctl.io/hollow-cpu: "800m,30s,50m"   # 800m for 30 s, then 50m
    pyctl.io/hollow-memory: "96Mi"
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import itertools
import logging
import os
import random
import shutil
import tempfile
import time
import zlib
from dataclasses import dataclass, field, replace
from pathlib import Path

from .base import ContainerState, Counters, ExecCommand, ExecRefused, NodeUsage, Pod, PodUsage, RuntimePod
from .bundle import quantity

log = logging.getLogger(__name__)

VERSION = "hollow://0.1"
RUN_SECONDS = "pyctl.io/hollow-run-seconds"
EXIT_CODE = "pyctl.io/hollow-exit-code"
PROBE_FAIL = "pyctl.io/hollow-probe-fail"
CPU_USAGE = "pyctl.io/hollow-cpu"
MEMORY_USAGE = "pyctl.io/hollow-memory"
NODE_CPU, NODE_MEMORY = 0.1, 300 * 2**20  # what the simulated node itself uses (cores, bytes)
BENCH_RANGE = ipaddress.ip_network("198.18.0.0/15")


def now_rfc3339() -> str:
    return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def pod_cidr_for(node_name: str) -> ipaddress.IPv4Network:
    """A /24 of the benchmark range picked from the node's name (stable across restarts)."""
    subnets = 2 ** (24 - BENCH_RANGE.prefixlen)
    index = zlib.crc32(node_name.encode()) % subnets
    return ipaddress.IPv4Network(f"{BENCH_RANGE.network_address + index * 256}/24")


Load = list[tuple[float, float]]
"""A simulated usage: (value, until seconds after the run started) pairs, the last one forever."""


def parse_load(text: str) -> Load:
    """`800m,30s,50m` -> [(0.8, 30), (0.05, inf)]; ValueError if malformed."""
    parts = [p.strip() for p in text.split(",")]
    if len(parts) % 2 == 0:
        raise ValueError(f"{text!r}: expected value[,seconds,value]...")
    out, until = [], 0.0
    for i in range(0, len(parts), 2):
        seconds = float(parts[i + 1].removesuffix("s")) if i + 1 < len(parts) else float("inf")
        until += seconds
        out.append((float(quantity(parts[i])), until))
    return out


def _load_at(load: Load, elapsed: float) -> float:
    return next((v for v, until in load if elapsed < until), load[-1][0])


@dataclass
class _Run:
    """One hollow container's current run."""

    state: ContainerState
    run_for: float | None = None  # seconds each run lasts (None: forever)
    ends_at: float | None = None  # monotonic time this run "exits"
    exit_code: int = 0
    cpu: Load = field(default_factory=lambda: [(0.0, float("inf"))])  # cores
    memory: Load = field(default_factory=lambda: [(0.0, float("inf"))])  # bytes
    started: float = field(default_factory=time.monotonic)
    cpu_ns: float = 0.0  # cumulative, integrated at each read
    read_at: float = field(default_factory=time.monotonic)


@dataclass
class _Pod:
    info: RuntimePod
    runs: dict[str, _Run] = field(default_factory=dict)
    probe_fail: frozenset[str] = frozenset()  # probe kinds that fail (annotation PROBE_FAIL)
    probes: dict[str, dict[str, list[str]]] = field(default_factory=dict)  # container -> kind -> exec argv


class HollowRuntime:
    name = "hollow"
    version = VERSION

    def __init__(self, node_name: str, pod_cidr: str | None = None) -> None:
        self.node_name = node_name
        net = ipaddress.IPv4Network(pod_cidr) if pod_cidr else pod_cidr_for(node_name)
        self._free_ips = iter(net.hosts())
        self._released: list[str] = []
        self._pods: dict[str, _Pod] = {}
        self._ids = itertools.count(1)
        # Made on the first write, removed by close(): a unique directory per runtime.
        self._log_dir = Path(tempfile.gettempdir()) / f"pyctl-hollow-logs-{node_name}-{os.getpid()}-{id(self):x}"
        self._noise = random.Random(node_name)
        self._node_cpu_ns, self._node_read_at = 0.0, time.monotonic()
        log.warning("node %s uses the HOLLOW runtime (%s): containers are simulated, nothing runs",
                    node_name, VERSION)

    # -- Runtime ------------------------------------------------------------------------------

    async def start_pod(self, pod: Pod) -> RuntimePod:
        md, spec = pod["metadata"], pod.get("spec") or {}
        uid = md["uid"]
        existing = self._pods.get(uid)
        if existing is not None:
            return self._observe(existing)
        info = RuntimePod(uid=uid, namespace=md.get("namespace", "default"), name=md["name"],
                          pod_ip=self._allocate_ip(), started_at=now_rfc3339())
        ann = md.get("annotations") or {}
        hp = _Pod(info, probe_fail=frozenset(k.strip() for k in ann.get(PROBE_FAIL, "").split(",") if k.strip()))
        run_for, code = _exit_plan(pod)
        for c in spec.get("containers") or []:
            hp.runs[c["name"]] = self._new_run(c["name"], c.get("image", ""), 0, None, run_for, code, uid)
            hp.runs[c["name"]].cpu, hp.runs[c["name"]].memory = _usage_plan(pod, c)
            hp.probes[c["name"]] = {k: list(((c.get(f"{k}Probe") or {}).get("exec") or {}).get("command") or [])
                                    for k in ("startup", "liveness", "readiness") if c.get(f"{k}Probe")}
        self._pods[uid] = hp
        return self._observe(hp)

    async def restart_container(self, uid: str, name: str) -> None:
        hp = self._pods.get(uid)
        if hp is None or name not in hp.runs:
            return
        old = hp.runs[name]
        hp.runs[name] = self._new_run(name, old.state.image, old.state.restart_count + 1,
                                      replace(old.state, last_state=None), old.run_for, old.exit_code, uid)
        hp.runs[name].cpu, hp.runs[name].memory = old.cpu, old.memory

    async def stop_container(self, uid: str, name: str, grace: float) -> None:
        hp = self._pods.get(uid)
        run = hp.runs.get(name) if hp else None
        if run is None or run.state.state != "running":
            return
        # As a container that ignored SIGTERM and was SIGKILLed (the kubelet's liveness kill).
        s = run.state
        s.state, s.ready, s.exit_code, s.reason, s.finished_at = "exited", False, 137, "Error", now_rfc3339()
        run.ends_at = None
        self._log(uid, s, f"container {name} was killed (exit code 137)")

    async def stop_containers(self, uid: str, grace: float) -> None:
        for name in list(self._pods[uid].runs) if uid in self._pods else []:
            await self.stop_container(uid, name, grace)

    async def exec_in_container(self, uid: str, name: str, argv: list[str],
                                timeout: float) -> tuple[int, str]:
        """Nothing runs: an exec fails only when it is the command of a probe kind the pod's
        `pyctl.io/hollow-probe-fail` annotation names."""
        hp = self._pods.get(uid)
        if hp is None or name not in hp.runs or hp.runs[name].state.state != "running":
            return 1, "container not running"
        failing = any(argv == cmd for k, cmd in hp.probes.get(name, {}).items() if k in hp.probe_fail)
        return (1, "hollow probe failure") if failing else (0, "")

    async def exec_command(self, uid: str, name: str, argv: list[str], tty: bool) -> ExecCommand:
        raise ExecRefused(f"hollow node {self.node_name}: containers are simulated and nothing runs, "
                          "so there is nothing to exec into")

    def simulated_probe(self, uid: str, name: str, kind: str) -> bool:
        """Every probe (exec, httpGet, tcpSocket) of a hollow pod: hollow pod IPs are not real,
        so the annotation decides, without any I/O."""
        hp = self._pods.get(uid)
        return hp is not None and name in hp.runs and kind not in hp.probe_fail

    async def stop_pod(self, uid: str, grace: float) -> None:
        hp = self._pods.pop(uid, None)
        shutil.rmtree(self._log_dir / uid, ignore_errors=True)
        if hp is not None and hp.info.pod_ip:
            self._released.append(hp.info.pod_ip)

    async def pod_status(self, uid: str) -> RuntimePod | None:
        hp = self._pods.get(uid)
        return self._observe(hp) if hp else None

    async def list_pods(self) -> list[RuntimePod]:
        return [self._observe(hp) for hp in self._pods.values()]

    def log_path(self, uid: str, name: str) -> Path | None:
        hp = self._pods.get(uid)
        run = hp.runs.get(name) if hp else None
        return self._log_file(uid, run.state) if run else None

    async def usage(self) -> NodeUsage:
        """The simulated usage of every running container, and of the node (see the docstring)."""
        now = time.monotonic()
        out = NodeUsage(None)
        cores, memory = NODE_CPU, NODE_MEMORY
        for hp in self._pods.values():
            self._observe(hp)  # runs that ended meanwhile stop using anything
            pod = PodUsage(hp.info.namespace, hp.info.name, hp.info.uid)
            for name, run in hp.runs.items():
                if run.state.state != "running":
                    continue
                rate = _load_at(run.cpu, now - run.started) * self._noise.uniform(0.95, 1.05)
                run.cpu_ns += rate * 1e9 * (now - run.read_at)
                run.read_at = now
                ws = int(_load_at(run.memory, now - run.started)) // 4096 * 4096  # whole pages, as cgroups count
                pod.containers[name] = (run.state.container_id, Counters(int(run.cpu_ns), ws))
                cores, memory = cores + rate, memory + ws
            if pod.containers:
                out.pods.append(pod)
        self._node_cpu_ns += cores * 1e9 * (now - self._node_read_at)
        self._node_read_at = now
        out.node = Counters(int(self._node_cpu_ns), memory)
        return out

    async def close(self) -> None:
        shutil.rmtree(self._log_dir, ignore_errors=True)

    # -- simulation --------------------------------------------------------------------------

    def _allocate_ip(self) -> str:
        if self._released:
            return self._released.pop(0)
        return str(next(self._free_ips, "")) or ""

    def _log_file(self, uid: str, s: ContainerState) -> Path:
        return self._log_dir / uid / s.name / f"{s.restart_count}.log"

    def _log(self, uid: str, s: ContainerState, *lines: str) -> None:
        """Append synthetic stdout lines to the run's CRI log, each marked [hollow]."""
        path = self._log_file(uid, s)
        path.parent.mkdir(parents=True, exist_ok=True)
        ts = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f000Z")
        with path.open("a") as f:
            f.writelines(f"{ts} stdout F [hollow] {line}\n" for line in lines)

    def _new_run(self, name: str, image: str, restarts: int, last: ContainerState | None,
                 run_for: float | None, code: int, uid: str) -> _Run:
        cid = f"hollow://{self.node_name}-{next(self._ids):08x}"
        state = ContainerState(name=name, container_id=cid, image=image,
                               image_id=f"hollow://{image}", state="running", started_at=now_rfc3339(),
                               restart_count=restarts, ready=True, last_state=last)
        self._log(uid, state, f"container {name} started (run {restarts}, image {image})",
                  "this node is simulated: nothing runs, and this log is synthetic",
                  f"container {name} is running")
        return _Run(state, run_for, None if run_for is None else time.monotonic() + run_for, code)

    def _observe(self, hp: _Pod) -> RuntimePod:
        now = time.monotonic()
        for run in hp.runs.values():
            s = run.state
            if s.state == "running" and run.ends_at is not None and now >= run.ends_at:
                s.state, s.ready, s.exit_code = "exited", False, run.exit_code
                s.finished_at = now_rfc3339()
                s.reason = "Completed" if run.exit_code == 0 else "Error"
                self._log(hp.info.uid, s, f"container {s.name} exited with code {run.exit_code}")
        return replace(hp.info, containers=[replace(r.state) for r in hp.runs.values()])


def _usage_plan(pod: Pod, container: dict) -> tuple[Load, Load]:
    """What one container "uses": its pod's annotations, else a steady share of its requests."""
    ann = pod["metadata"].get("annotations") or {}
    requests = (container.get("resources") or {}).get("requests") or {}
    share = zlib.crc32(f"{pod['metadata']['uid']}/{container.get('name')}".encode()) / 2**32
    plans = []
    for key, resource, default, low, high in ((CPU_USAGE, "cpu", 0.1, 0.1, 0.4),
                                              (MEMORY_USAGE, "memory", 64 * 2**20, 0.3, 0.6)):
        try:
            if key in ann:
                plans.append(parse_load(ann[key]))
                continue
            base = float(quantity(requests[resource])) if resource in requests else default
        except ValueError:
            base = default
        plans.append([(base * (low + (high - low) * share), float("inf"))])
    return plans[0], plans[1]


def _exit_plan(pod: Pod) -> tuple[float | None, int]:
    ann = pod["metadata"].get("annotations") or {}
    try:
        run_for = float(ann[RUN_SECONDS]) if RUN_SECONDS in ann else None
        code = int(ann.get(EXIT_CODE, "0"))
    except ValueError:
        return None, 0
    return run_for, code
