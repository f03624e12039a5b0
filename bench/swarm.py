"""Docker Swarm's scale-up, measured in the same run as pyctl's (bench/scaleup.py) on the same
machine, instead of quoting published figures.

A dockerd of the benchmark's own (Debian's `docker.io`, installed with apt-get only when asked)
runs with its data-root, exec-root, pidfile and unix socket under the run's directory, in a
network namespace the benchmark creates (a veth pair inside it gives Swarm a non-loopback
address to advertise; it has no link and no route out, so nothing leaves the machine; iptables
off) and in a mount namespace of its own (its overlay and netns mounts vanish with it, none is
left on the host). It starts its own containerd, `swarm init`s a one-node swarm, imports the
demo image (the same busybox httpd rootfs pyctl's demo pods run, agent.images.build) from a
local tarball, and runs a replicated service of it. Everything goes through the Engine API on
the daemon's socket, as `docker service create/scale` would send it.

Swarm has no readiness: a task counts once its state is `running` (its container started).
If the daemon cannot run on this machine, `Unavailable` carries the daemon's own error.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import io
import json
import math
import os
import shutil
import signal
import subprocess
import tarfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import AsyncIterator

import aiohttp

from .cluster import wait_for
from .procstat import family

PACKAGE = "docker.io"
IMAGE = "pyctl/demo:1.0"
SERVICE = "bench"
ADDRESS = "10.99.0.1"  # inside the benchmark's own netns only: it routes nowhere
INSTALL_LIMIT = 600.0
START_LIMIT = 60.0
API_LIMIT = 30.0
STOP_LIMIT = 30.0


class Unavailable(Exception):
    """Swarm cannot be measured on this machine; the message says why (the daemon's own words)."""


def _tail(text: str, lines: int = 3) -> str:
    return " ".join(line.strip() for line in text.strip().splitlines()[-lines:])


def ensure_dockerd(install: bool) -> str:
    """The dockerd binary; with `install`, apt-get installs Debian's docker.io when it is missing."""
    dockerd = shutil.which("dockerd")
    if dockerd or not install:
        if not dockerd:
            raise Unavailable("dockerd is not installed (`python -m bench --swarm` installs docker.io)")
        return dockerd
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for cmd in (["apt-get", "update", "-qq"],
                ["apt-get", "install", "-y", "-qq", "--no-install-recommends", PACKAGE]):
        try:
            p = subprocess.run(cmd, capture_output=True, text=True, timeout=INSTALL_LIMIT, env=env)
        except (OSError, subprocess.TimeoutExpired) as e:
            raise Unavailable(f"`{' '.join(cmd)}`: {e}") from None
        if p.returncode != 0:
            raise Unavailable(f"`{' '.join(cmd)}` failed: {_tail(p.stderr)}")
    dockerd = shutil.which("dockerd")
    if not dockerd:
        raise Unavailable(f"{PACKAGE} installed no dockerd")
    return dockerd


def demo_rootfs() -> bytes:
    """The demo image's layers merged into one rootfs tarball, for an image import."""
    from agent.images.build import demo_image
    out = io.BytesIO()
    seen: set[str] = set()
    with tarfile.open(fileobj=out, mode="w") as merged:
        for layer in demo_image().layers:  # base first: a later layer's file replaces an earlier one
            with tarfile.open(fileobj=io.BytesIO(gzip.decompress(layer.data))) as t:
                for m in t.getmembers():
                    if m.isdir() and m.name in seen:
                        continue
                    seen.add(m.name)
                    merged.addfile(m, t.extractfile(m) if m.isreg() else None)
    return out.getvalue()


@dataclass
class Daemon:
    """One running dockerd with a swarm initialised and the demo image imported."""

    base: Path
    session: aiohttp.ClientSession
    version: str = ""
    service: str = ""
    pids: set[int] = field(default_factory=set)
    """dockerd and its descendants (containerd) seen while it ran: their sessions hold the shims."""

    async def call(self, method: str, path: str, **kw) -> object:
        async with self.session.request(method, "http://docker" + path,
                                        timeout=aiohttp.ClientTimeout(total=API_LIMIT), **kw) as r:
            body = await r.read()
            if r.status >= 300:
                raise RuntimeError(f"{method} {path}: {r.status} {body.decode(errors='replace')[:300]}")
            if r.content_type != "application/json":
                return body
            try:
                return json.loads(body)
            except ValueError:  # a progress stream (an image import): one JSON document per line
                return body

    async def create_service(self, replicas: int) -> None:
        spec = {"Name": SERVICE, "Mode": {"Replicated": {"Replicas": replicas}},
                "TaskTemplate": {"ContainerSpec": {"Image": IMAGE, "StopGracePeriod": 0}}}
        self.service = (await self.call("POST", "/services/create", json=spec))["ID"]

    async def scale(self, replicas: int) -> None:
        """What `docker service scale` sends: the spec with a new count, at the version read."""
        svc = await self.call("GET", f"/services/{self.service}")
        spec = svc["Spec"]
        spec["Mode"]["Replicated"]["Replicas"] = replicas
        await self.call("POST", f"/services/{self.service}/update", params={"version": str(svc["Version"]["Index"])},
                        json=spec)

    async def running(self) -> int:
        filters = json.dumps({"service": [self.service], "desired-state": ["running"]})
        tasks = await self.call("GET", "/tasks", params={"filters": filters})
        return sum(1 for t in tasks if t["Status"]["State"] == "running")

    async def containers(self) -> int:
        return len(await self.call("GET", "/containers/json"))


@dataclass
class Step:
    label: str
    up: float
    down: float
    """s from the scale to 0 until no container is left."""


async def timed_scale(d: Daemon, replicas: int, limit: float, create: bool = False) -> float:
    t0 = time.perf_counter()
    await (d.create_service(replicas) if create else d.scale(replicas))

    async def done() -> bool:
        return await d.running() >= replicas
    await wait_for(done, limit, f"{replicas} Swarm tasks running", 0.1)
    return time.perf_counter() - t0


async def timed_drain(d: Daemon, limit: float) -> float:
    t0 = time.perf_counter()
    await d.scale(0)

    async def gone() -> bool:
        return await d.containers() == 0
    await wait_for(gone, limit, "every Swarm container gone", 0.1)
    return time.perf_counter() - t0


async def measure(workdir: str, warm: int, steps: tuple[int, ...], limit: float) -> tuple[str, list[Step]]:
    """(daemon version, steps): a service of `warm` replicas, scaled to steps[0] (the step the
    published Swarm figures use), then back to 0 and 0→n for each of `steps`."""
    async with daemon(workdir) as d:
        up = await timed_scale(d, warm, limit, create=True)
        out = [Step(f"0→{warm} (service created)", up, math.nan)]
        up = await timed_scale(d, steps[0], limit)
        out.append(Step(f"{warm}→{steps[0]}", up, await timed_drain(d, limit)))
        for n in steps:
            up = await timed_scale(d, n, limit)
            out.append(Step(f"0→{n}", up, await timed_drain(d, limit)))
        return d.version, out


@contextlib.asynccontextmanager
async def daemon(workdir: str) -> AsyncIterator[Daemon]:
    dockerd = ensure_dockerd(install=False)  # the caller installs first if asked
    tag = uuid.uuid4().hex[:5]
    name = f"pyctl-bench-swarm-{tag}"  # the netns and the cgroup parent: e2e tests look for leftovers by it
    base = Path(workdir) / f"swarm-{tag}"
    # The exec-root holds containerd's sockets: it needs a short path (a unix socket's is at most 107 bytes).
    run = Path("/run") / name
    sock = run / "docker.sock"
    log_path = Path(workdir) / f"swarm-{tag}-dockerd.log"
    proc: subprocess.Popen | None = None
    d: Daemon | None = None
    try:
        base.mkdir(parents=True)
        run.mkdir(parents=True)
        _netns(name)
        with open(log_path, "ab") as log:
            proc = subprocess.Popen(
                ["setpriv", "--pdeathsig", "KILL", "--",
                 "unshare", "--mount", "--propagation", "slave", "--",
                 "nsenter", f"--net=/run/netns/{name}", "--",
                 dockerd, "--data-root", str(base / "data"), "--exec-root", str(run / "exec"),
                 "--pidfile", str(run / "dockerd.pid"), "-H", f"unix://{sock}", "--log-level", "warn",
                 "--iptables=false", "--ip6tables=false", "--cgroup-parent", name],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        session = aiohttp.ClientSession(connector=aiohttp.UnixConnector(path=str(sock)))
        d = Daemon(base, session)
        try:
            await _started(d, proc, log_path)
            d.pids = set(family(proc.pid))
            d.version = (await d.call("GET", "/version"))["Version"]
            try:
                await d.call("POST", "/swarm/init", json={"ListenAddr": f"{ADDRESS}:2377", "AdvertiseAddr": ADDRESS})
            except RuntimeError as e:
                raise Unavailable(f"swarm init: {e}") from None
            await d.call("POST", "/images/create", data=demo_rootfs(), headers={"Content-Type": "application/x-tar"},
                         params=[("fromSrc", "-"), ("repo", IMAGE.split(":")[0]), ("tag", IMAGE.split(":")[1]),
                                 ("changes", 'CMD ["serve", "8080"]'), ("changes", "WORKDIR /www"),
                                 ("changes", "ENV PATH=/bin")])
            await d.call("GET", f"/images/{IMAGE}/json")
            yield d
        finally:
            try:
                await _leave(d)
            finally:
                await session.close()
    finally:
        await asyncio.to_thread(_teardown, proc, d.pids if d else set(), name, [base, run])


def _netns(name: str) -> None:
    """A network namespace with loopback and a veth pair inside it, linked to nothing outside."""
    for cmd in (["ip", "netns", "add", name], ["ip", "-n", name, "link", "set", "lo", "up"],
                ["ip", "-n", name, "link", "add", "sw0", "type", "veth", "peer", "name", "sw1"],
                ["ip", "-n", name, "addr", "add", f"{ADDRESS}/24", "dev", "sw0"],
                ["ip", "-n", name, "link", "set", "sw0", "up"], ["ip", "-n", name, "link", "set", "sw1", "up"]):
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=20)
        if p.returncode != 0:
            raise Unavailable(f"`{' '.join(cmd)}`: {p.stderr.strip()}")


async def _started(d: Daemon, proc: subprocess.Popen, log: Path) -> None:
    """Wait for the daemon's /_ping; if it exits first, its last words are the reason."""
    async def up() -> bool:
        if proc.poll() is not None:
            text = log.read_text(errors="replace")
            failed = [line for line in text.splitlines() if line.startswith("failed to start")]
            raise Unavailable(failed[-1].strip() if failed else f"dockerd exited with {proc.returncode}: {_tail(text)}")
        with contextlib.suppress(aiohttp.ClientError, OSError, RuntimeError, asyncio.TimeoutError):
            await d.call("GET", "/_ping")
            return True
        return False
    try:
        await wait_for(up, START_LIMIT, "dockerd to answer on its socket", 0.2)
    except TimeoutError as e:
        raise Unavailable(f"{e}; its log ends: {_tail(log.read_text(errors='replace'))}") from None


async def _leave(d: Daemon | None) -> None:
    """The service and the swarm go first, so dockerd stops no task on its way out."""
    if d is None:
        return
    with contextlib.suppress(Exception):
        if d.service:
            await d.call("DELETE", f"/services/{d.service}")

            async def gone() -> bool:
                return await d.containers() == 0
            await wait_for(gone, STOP_LIMIT, "the service's containers gone", 0.2)
    with contextlib.suppress(Exception):
        await d.call("POST", "/swarm/leave", params={"force": "true"})


def _started_at(pid: int) -> int | None:
    """The process's start time (field 22 of /proc/PID/stat): tells it from a later one with its pid."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return int(f.read().rpartition(")")[2].split()[19])
    except (OSError, ValueError, IndexError):
        return None


def _in_sessions(sids: set[int]) -> dict[int, int | None]:
    """pid -> start time of the processes whose session is one of `sids` (dockerd's, and
    containerd's, which its shims keep after they are re-parented)."""
    out = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError):
                if os.getsid(int(entry)) in sids:
                    out[int(entry)] = _started_at(int(entry))
    return out


def _teardown(proc: subprocess.Popen | None, pids: set[int], name: str, dirs: list[Path]) -> None:
    """Stop the daemon, then whatever of its sessions outlived it, by their ids; remove the
    netns, the cgroups named for this run and the daemon's directories. Every wait is bounded."""
    if proc is not None:
        members = _in_sessions(pids | {proc.pid})  # before the stop: every pid here is the daemon's own
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(STOP_LIMIT)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            left = [pid for pid, t in members.items() if t is not None and _started_at(pid) == t]
            if not left:
                break
            for pid in left:
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGKILL)
            time.sleep(0.2)
    for root in [Path("/sys/fs/cgroup") / name, *Path("/sys/fs/cgroup").glob(f"*/{name}")]:
        if not root.is_dir():
            continue
        for d in sorted((p for p in root.rglob("*") if p.is_dir()), key=lambda p: -len(p.parts)):
            with contextlib.suppress(OSError):
                d.rmdir()
        with contextlib.suppress(OSError):
            root.rmdir()
    subprocess.run(["ip", "netns", "del", name], capture_output=True, timeout=20)
    for d in dirs:
        shutil.rmtree(d, ignore_errors=True)
