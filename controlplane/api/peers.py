"""What one API worker process shares with its sibling workers (`--api-workers N`).

The workers serve one port, each with its own watch cache (apiworkers.py). What the API server
keeps in memory only, and must look the same whichever worker a client reaches, goes between
them over a private Unix socket per worker, in a directory only this user can enter (0700,
made by the parent), so nothing bypasses the API server's authentication and RBAC:

* Resource usage (metrics.k8s.io): the gateway's report reaches one worker, which keeps it and
  passes the same bytes on to every other worker (`POST /usage`), so each holds every node's.
  A worker that misses one (restarting) catches up with the next report, one metric period
  later, as the whole API server does after a restart.
* `/metrics`: the worker asked gathers every worker's own families (`GET /metrics`) and labels
  each series with `worker="<index>"` (process_* and counters are per process, as for several
  kube-apiservers); the components' families come from worker 0, which runs beside them.

Objects, watches and allocations need nothing here: they live in etcd, and reads wait for
the writes any worker answered (consistency.py). Worker 0 alone does the API server's own
bookkeeping (bootstrap objects, compaction, the endpoint Lease): see `primary`.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import tempfile
from dataclasses import dataclass
from typing import Awaitable, Callable, Iterable

import aiohttp
from aiohttp import web
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families

log = logging.getLogger(__name__)

TIMEOUT = 5.0
"""Seconds a sibling may take to answer; past it, it is left out (it is restarting)."""
WORKER_LABEL = "worker"


@dataclass(frozen=True)
class WorkerLink:
    """Where this worker stands among the API server's workers."""

    index: int
    workers: int
    written_fd: int
    """The shared revisions (written.py), inherited from the parent."""
    directory: str
    """Holds worker-<index>.sock of each worker."""

    @property
    def primary(self) -> bool:
        return self.index == 0

    def socket_path(self, index: int) -> str:
        return os.path.join(self.directory, f"worker-{index}.sock")

    def others(self) -> list[int]:
        return [i for i in range(self.workers) if i != self.index]


DIRECTORY_PREFIX = "pyctl-api-"


def worker_directory() -> str:
    """A new private (0700) directory for the workers' sockets, named after this process, so a
    directory left by a server that was killed outright names a dead process and is removed
    here, by the next server's start (one stopped normally removes its own)."""
    base = tempfile.gettempdir()
    for name in os.listdir(base):
        pid = name[len(DIRECTORY_PREFIX):].partition("-")[0]
        if name.startswith(DIRECTORY_PREFIX) and pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(os.path.join(base, name), ignore_errors=True)
    return tempfile.mkdtemp(prefix=f"{DIRECTORY_PREFIX}{os.getpid()}-")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's: alive
        return True
    return True


Exposition = Callable[[], Awaitable[bytes]]


class Peers:
    """The private server of this worker, and its client to the others."""

    def __init__(self, link: WorkerLink, own_metrics: Callable[[], bytes],
                 components: Callable[[], Exposition | None], ingest: Callable[[bytes], object]) -> None:
        self.link = link
        self._own_metrics, self._components, self._ingest = own_metrics, components, ingest
        self._runner: web.AppRunner | None = None
        self._sessions: dict[int, aiohttp.ClientSession] = {}
        self._relays: set[asyncio.Task] = set()

    # -- serving the siblings -------------------------------------------------------

    async def start(self) -> None:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_get("/metrics", self._serve_metrics)
        app.router.add_get("/metrics/components", self._serve_components)
        app.router.add_post("/usage", self._serve_usage)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        path = self.link.socket_path(self.link.index)
        if os.path.exists(path):  # left by this worker's previous run (it was killed)
            os.unlink(path)
        await web.UnixSite(self._runner, path).start()

    async def stop(self) -> None:
        for task in list(self._relays):
            task.cancel()
        for session in self._sessions.values():
            await session.close()
        self._sessions.clear()
        if self._runner is not None:
            await self._runner.cleanup()

    async def _serve_metrics(self, request: web.Request) -> web.Response:
        return web.Response(body=self._own_metrics())

    async def _serve_components(self, request: web.Request) -> web.Response:
        source = self._components()
        return web.Response(body=await source() if source is not None else b"")

    async def _serve_usage(self, request: web.Request) -> web.Response:
        self._ingest(await request.read())
        return web.Response(status=204)

    # -- asking the siblings --------------------------------------------------------

    def _session(self, index: int) -> aiohttp.ClientSession:
        session = self._sessions.get(index)
        if session is None or session.closed:
            session = self._sessions[index] = aiohttp.ClientSession(
                connector=aiohttp.UnixConnector(path=self.link.socket_path(index)),
                timeout=aiohttp.ClientTimeout(total=TIMEOUT))
        return session

    async def _ask(self, index: int, method: str, path: str, body: bytes | None = None) -> bytes | None:
        try:
            async with self._session(index).request(method, "http://worker" + path, data=body) as r:
                if r.status >= 300:
                    raise aiohttp.ClientError(f"status {r.status}")
                return await r.read()
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
            log.debug("API worker %d: %s %s: %s", index, method, path, exc or type(exc).__name__)
            return None

    def relay_usage(self, raw: bytes) -> None:
        """Pass a usage report this worker took on to every other worker (in the background)."""
        for index in self.link.others():
            task = asyncio.create_task(self._ask(index, "POST", "/usage", raw))
            self._relays.add(task)
            task.add_done_callback(self._relays.discard)

    async def metrics(self) -> bytes:
        """Every worker's families, each series labelled with its worker (a missing one left out)."""
        others = self.link.others()
        answers = await asyncio.gather(*(self._ask(i, "GET", "/metrics") for i in others))
        texts = [(self.link.index, self._own_metrics())] + [
            (i, text) for i, text in zip(others, answers) if text is not None]
        return labelled(sorted(texts))

    async def components_metrics(self) -> bytes:
        """The components' families, from worker 0 (which runs beside them)."""
        if self.link.primary:
            source = self._components()
            return await source() if source is not None else b""
        return await self._ask(0, "GET", "/metrics/components") or b""


class _Families:
    def __init__(self, families: Iterable[Metric]) -> None:
        self.families = list(families)

    def collect(self) -> Iterable[Metric]:
        return self.families


def labelled(texts: list[tuple[int, bytes]]) -> bytes:
    """One exposition of several processes' ones, each sample labelled worker="<index>"."""
    families: dict[str, Metric] = {}
    for index, text in texts:
        for family in text_string_to_metric_families(text.decode()):
            into = families.get(family.name)
            if into is None:
                into = families[family.name] = Metric(family.name, family.documentation, family.type, family.unit)
            into.samples.extend(s._replace(labels={**s.labels, WORKER_LABEL: str(index)})
                                for s in family.samples)
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Families(families.values()))  # type: ignore[arg-type]
    return generate_latest(registry)
