"""Several API server processes behind one port (`pyctl-controlplane --api-workers N`).

One Python process serves on one core at a time (the GIL); a busy API server wants more. The
parent binds the listening sockets itself and serves on them as worker 0; workers 1..N-1 are
child processes that inherit the same sockets and accept from them too (the kernel hands each
connection to one of them), each with its own etcd client and watch cache, as several
kube-apiservers behind one load balancer are. Worker 0 keeps the server's own bookkeeping and
runs beside the components; what must look the same from every worker is in api/peers.py
(usage reports, /metrics) and api/consistency.py (read-your-writes).

Supervision, as for the components process (children.py): a worker's first start must succeed
(a bad certificate stops `pyctl-controlplane`); later, a worker that exits is logged and
restarted with back-off while the others go on serving; every worker dies with the parent
(PR_SET_PDEATHSIG) and is stopped with SIGTERM (SIGKILL after STOP_TIMEOUT) when it stops.
The configuration (the loopback token among it) reaches each worker as a pickle on its stdin.
Workers log to the inherited stderr with `[api-worker I]` in every line.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, replace

from aiohttp import web

from . import eventloop
from .api.app import build_app
from .api.config import ApiConfig
from .api.peers import WorkerLink
from .api.serving import secure
from .children import (FIRST_BACKOFF, MAX_BACKOFF, READY, ChildRun, check_main_thread, child_spec, describe,
                       next_backoff)

log = logging.getLogger(__name__)

BACKLOG = 1024


@dataclass(frozen=True)
class WorkerSpec:
    """Everything a worker process needs, sent over its stdin."""

    config: ApiConfig
    """With the TLS files and the loopback token filled in (serving.secure)."""
    link: WorkerLink
    listen_fds: tuple[int, ...]
    verbose: bool = False
    ready_fd: int = -1


class WorkersFailed(RuntimeError):
    """A worker exited before it served."""


def listen_sockets(addresses: list[tuple[str, int]]) -> list[socket.socket]:
    """Bound, listening, inheritable sockets for `addresses` (OSError: e.g. the port is taken)."""
    sockets: list[socket.socket] = []
    try:
        for host, port in addresses:
            family = socket.AF_INET6 if ":" in host else socket.AF_INET
            sock = socket.create_server((host, port), family=family, backlog=BACKLOG)
            sock.set_inheritable(True)
            sockets.append(sock)
    except BaseException:
        for sock in sockets:
            sock.close()
        raise
    return sockets


# -- the parent's side ------------------------------------------------------------------------

class _Worker(ChildRun):
    """One run of one worker process."""

    what = "API worker"

    def __init__(self, spec: WorkerSpec) -> None:
        check_main_thread("API workers")
        ready_r, ready_w = os.pipe()
        try:
            # Popen (vfork), not the event loop's spawn: see eventloop.py.
            self.proc = subprocess.Popen(
                [sys.executable, "-m", __name__, "--parent-pid", str(os.getpid())], stdin=subprocess.PIPE,
                pass_fds=(ready_w, spec.link.written_fd, *spec.listen_fds))
        except BaseException:
            os.close(ready_r)
            raise
        finally:
            os.close(ready_w)  # the worker holds the only write end: EOF means it is gone
        self._started(ready_r, replace(spec, ready_fd=ready_w))


class ApiWorkers:
    """The parent's handle on workers 1..N-1: `await start()` (raises WorkersFailed), `await stop()`."""

    def __init__(self, config: ApiConfig, link: WorkerLink, sockets: list[socket.socket],
                 verbose: bool = False) -> None:
        self._spec = WorkerSpec(config, link, tuple(s.fileno() for s in sockets), verbose)
        self._workers: dict[int, _Worker] = {}
        self._supervisors: list[asyncio.Task[None]] = []
        self._stopping = False

    def pids(self) -> dict[int, int]:
        """Worker index -> pid of the workers running now."""
        return {i: w.proc.pid for i, w in self._workers.items()}

    async def start(self) -> None:
        indexes = range(1, self._spec.link.workers)
        started = await asyncio.gather(*(self._run(i) for i in indexes))
        if not all(started):
            await self.stop()
            raise WorkersFailed("an API worker process exited before it served")
        self._supervisors = [asyncio.create_task(self._supervise(i), name=f"api-worker-{i}") for i in indexes]

    async def _run(self, index: int) -> bool:
        # Recorded before it is ready, so a stop() meanwhile stops this one too.
        self._workers[index] = worker = _Worker(replace(self._spec, link=replace(self._spec.link, index=index)))
        if await worker.wait_ready():
            log.info("API worker %d (pid %d) serving", index, worker.proc.pid)
            return True
        status = await worker.wait_exit()
        worker.close()
        del self._workers[index]
        log.error("API worker %d (pid %d) exited with %s before it served", index, worker.proc.pid,
                  describe(status))
        return False

    async def _supervise(self, index: int) -> None:
        backoff = FIRST_BACKOFF
        while not self._stopping:
            worker = self._workers.get(index)
            if worker is not None:
                status = await worker.wait_exit()
                if self._stopping:
                    return
                up = time.monotonic() - worker.started
                worker.close()
                del self._workers[index]
                backoff = next_backoff(backoff, up)
                log.error("API worker %d (pid %d) exited unexpectedly with %s after %.0fs; restarting it in %.0fs",
                          index, worker.proc.pid, describe(status), up, backoff)
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, MAX_BACKOFF)
            if not self._stopping:
                await self._run(index)

    async def stop(self) -> None:
        self._stopping = True
        for task in self._supervisors:
            task.cancel()
        for task in self._supervisors:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._supervisors = []
        workers, self._workers = list(self._workers.values()), {}
        await asyncio.gather(*(w.stop() for w in workers))


# -- the worker's side --------------------------------------------------------------------------

async def _serve(spec: WorkerSpec) -> int:
    try:
        secured = secure(spec.config)  # the serving context, from the files the parent checked
        app = build_app(secured.config, spec.link)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
    except Exception as exc:
        log.error("the API worker did not start: %s", exc, exc_info=spec.verbose)
        return 1
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    try:
        for fd in spec.listen_fds:
            await web.SockSite(runner, socket.socket(fileno=fd), ssl_context=secured.ssl).start()
        os.write(spec.ready_fd, READY)
        await stop.wait()
    finally:
        await runner.cleanup()
    return 0


def main(argv: list[str] | None = None) -> int:
    spec: WorkerSpec = child_spec(argv, "python -m controlplane.apiworkers",
                                  "Started by pyctl-controlplane --api-workers; reads its configuration "
                                  "from stdin. Not for running by hand.", b"pyctl-api")
    logging.basicConfig(level=logging.DEBUG if spec.verbose else logging.INFO,
                        format=f"%(asctime)s %(levelname)s [api-worker {spec.link.index}] %(name)s: %(message)s")
    return eventloop.run(_serve(spec))


if __name__ == "__main__":
    sys.exit(main())
