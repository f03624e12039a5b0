"""The scheduler, controllers and node gateway in one child process of `pyctl-controlplane`.

Why a second process: one Python process runs one core at a time (the GIL), and under load
the API server and the components each want most of one. The components reach state only
through the HTTP API, so they can run apart, as kube-scheduler and kube-controller-manager
run apart from kube-apiserver. `pyctl-controlplane --components-process=inline` keeps the
single-process layout for debugging.

What this module owns, on both sides of the fork:

* Handing over: the child gets its whole configuration, the loopback credentials (a bearer
  token) and the gateway's TLS material (the CA key among it) as one pickle on its stdin, a
  pipe from the parent: never in argv or the environment, which `ps` and /proc show. Pickle is
  safe here because the only writer is the parent that started the child.
* Tied to the parent: the child asks the kernel for SIGKILL when its parent dies
  (PR_SET_PDEATHSIG) and then checks it still has that parent, closing the race where the
  parent died first. The death signal follows the thread that spawned the child, so the parent
  spawns from its main thread (where the event loop runs), never from a worker thread.
* Supervision, as kubelet treats a static pod or systemd a `Restart=always` unit: the first
  start must succeed, so a port in use or a bad certificate stops `pyctl-controlplane` with a
  non-zero status as it did before the split; after that, a child that exits unexpectedly is
  logged and restarted with exponential back-off (1 s doubling to 30 s, back to 1 s after
  a minute up). The components are level-triggered: a restarted child converges from the API.
* Stopping: `stop()` sends SIGTERM and waits while the child hands its leader leases back
  (the API server must still answer then), SIGKILL only after STOP_TIMEOUT.
* Metrics: the child's Prometheus families (exposition.COMPONENTS) reach the API server's
  `/metrics` through a private socket pair: the parent writes one byte, the child answers with
  a length and its exposition (`metrics()`). No port, so nothing bypasses the API server's
  authentication and RBAC.

The child logs to the inherited stderr with `[components]` in every line.
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

from . import eventloop, exposition
from .children import (FIRST_BACKOFF, MAX_BACKOFF, READY, STABLE_AFTER, ChildRun, check_main_thread, child_spec,
                       describe as _describe)
from .client import ApiClient, credentials
from .client.credentials import Credentials
from .components import SCHEDULER_LEASE, ComponentsConfig, run_components, with_identity
from .controllers.manager import LEASE_NAME as CONTROLLERS_LEASE
from .leader import ElectionConfig, LeaderElector

log = logging.getLogger(__name__)

METRICS_TIMEOUT = 5.0


@dataclass(frozen=True)
class ChildSpec:
    """Everything the child needs, sent over its stdin."""

    api_url: str
    components: frozenset[str]
    config: ComponentsConfig
    credentials: Credentials
    """What the child presents to the API server: the parent's loopback identity."""
    verbose: bool = False
    ready_fd: int = -1
    """The child writes READY here once its components run (a pipe inherited from the parent)."""
    metrics_fd: int = -1
    """The child's end of the socket pair its metrics are asked for on."""


class ComponentsFailed(RuntimeError):
    """The child exited before its components were running."""


# -- the parent's side ------------------------------------------------------------------------

class _Child(ChildRun):
    """One run of the components process, with the socket its metrics are asked on."""

    what = "components process"

    def __init__(self, spec: ChildSpec) -> None:
        check_main_thread("components process")
        ready_r, ready_w = os.pipe()
        self.metrics_sock, theirs = socket.socketpair()
        self.metrics_sock.setblocking(False)
        self._metrics_lock = asyncio.Lock()
        try:
            # subprocess.Popen, not the event loop's spawn: uvloop forks (see eventloop.py),
            # Popen without preexec_fn uses vfork and runs no fork handlers of gRPC's threads.
            self.proc = subprocess.Popen(
                [sys.executable, "-m", __name__, "--parent-pid", str(os.getpid())],
                stdin=subprocess.PIPE, pass_fds=(ready_w, theirs.fileno()))
        except BaseException:
            os.close(ready_r)
            self.metrics_sock.close()
            raise
        finally:
            os.close(ready_w)  # the child holds the only write end: EOF means it is gone
            metrics_fd = theirs.detach()
            os.close(metrics_fd)
        self.identity = spec.config.controllers.identity  # its name in the leader Leases
        self._started(ready_r, replace(spec, ready_fd=ready_w, metrics_fd=metrics_fd))

    async def metrics(self) -> bytes:
        """The child's exposition; b"" if it does not answer within METRICS_TIMEOUT."""
        loop = asyncio.get_running_loop()
        async with self._metrics_lock:  # one question at a time on the one socket
            try:
                return await asyncio.wait_for(_ask(loop, self.metrics_sock), METRICS_TIMEOUT)
            except (OSError, asyncio.TimeoutError, ValueError) as exc:
                log.warning("the components process's metrics: %s", exc or type(exc).__name__)
                # A late answer would be taken for the next question's: start a fresh pair next run.
                self.metrics_sock.close()
                return b""

    def close(self) -> None:
        super().close()
        self.metrics_sock.close()


async def _ask(loop: asyncio.AbstractEventLoop, sock: socket.socket) -> bytes:
    await loop.sock_sendall(sock, b"?")
    head = await _read_exactly(loop, sock, 8)
    return await _read_exactly(loop, sock, int.from_bytes(head, "big"))


async def _read_exactly(loop: asyncio.AbstractEventLoop, sock: socket.socket, n: int) -> bytes:
    parts, got = [], 0
    while got < n:
        part = await loop.sock_recv(sock, min(n - got, 1 << 20))
        if not part:
            raise ValueError("the components process closed its metrics socket")
        parts.append(part)
        got += len(part)
    return b"".join(parts)


class ComponentsProcess:
    """The parent's handle: `await start()` (raises ComponentsFailed), then `await stop()`."""

    def __init__(self, spec: ChildSpec) -> None:
        self.spec = spec
        self._child: _Child | None = None
        self._supervisor: asyncio.Task[None] | None = None
        self._stopping = False

    async def start(self) -> None:
        await self._run_child()
        if self._child is None:
            raise ComponentsFailed("the components process exited before its components ran")
        self._supervisor = asyncio.create_task(self._supervise(), name="components-supervisor")

    async def _run_child(self) -> None:
        # A fresh Lease identity per run, as a restarted kube-scheduler has.
        # Recorded before it is ready, so a stop() meanwhile stops this child too.
        self._child = child = _Child(replace(self.spec, config=with_identity(self.spec.config)))
        if await child.wait_ready():
            log.info("components process %d running: %s", child.proc.pid, ", ".join(sorted(self.spec.components)))
            return
        status = await child.wait_exit()
        child.close()
        self._child = None
        log.error("components process %d exited with %s before its components ran", child.proc.pid,
                  _describe(status))

    async def _supervise(self) -> None:
        backoff = FIRST_BACKOFF
        while not self._stopping:
            if self._child is not None:
                status = await self._child.wait_exit()
                if self._stopping:
                    return
                up, dead = time.monotonic() - self._child.started, self._child.identity
                self._child.close()
                self._child = None
                backoff = FIRST_BACKOFF if up >= STABLE_AFTER else backoff
                log.error("components process exited unexpectedly with %s after %.0fs; restarting it in %.0fs",
                          _describe(status), up, backoff)
                await self._release_leases(dead)
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, MAX_BACKOFF)
            if not self._stopping:
                await self._run_child()

    async def _release_leases(self, identity: str) -> None:
        """Hand back the leader Leases a dead child held, as it would have on a clean stop, so the
        next child (or another control plane's standby) leads at once instead of waiting them out.
        Only a Lease still naming the dead child's own identity is touched."""
        client = ApiClient(self.spec.api_url, user_agent="pyctl-components-supervisor",
                           credentials=self.spec.credentials)
        try:
            for name in (SCHEDULER_LEASE, CONTROLLERS_LEASE):
                await LeaderElector(client, ElectionConfig(name=name, identity=identity)).release()
        except Exception as exc:  # best effort: without it the Lease simply expires
            log.warning("could not release the dead components process's leases: %s", exc)
        finally:
            await client.close()

    async def metrics(self) -> bytes:
        """The running child's Prometheus exposition (b"" while none runs)."""
        child = self._child
        return await child.metrics() if child is not None else b""

    async def stop(self) -> None:
        """SIGTERM the child and wait for it (it hands its leases back), then SIGKILL if it must."""
        self._stopping = True
        if self._supervisor is not None:
            self._supervisor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._supervisor
            self._supervisor = None
        if self._child is not None:
            await self._child.stop()
            self._child = None


# -- the child's side ---------------------------------------------------------------------------

async def _serve(spec: ChildSpec) -> int:
    credentials.register(spec.api_url, spec.credentials)
    try:
        running = await run_components(spec.api_url, set(spec.components), spec.config)
    except Exception as exc:
        log.error("the components did not start: %s", exc, exc_info=spec.verbose)
        return 1
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    answering = asyncio.create_task(_answer_metrics(spec.metrics_fd), name="components-metrics")
    try:
        os.write(spec.ready_fd, READY)
        await stop.wait()
    finally:
        answering.cancel()
        await running.stop()  # hands the leases back while the parent's API server still answers
    return 0


async def _answer_metrics(fd: int) -> None:
    """Answer each byte the parent sends with this process's exposition, until it hangs up."""
    if fd < 0:
        return
    loop = asyncio.get_running_loop()
    with socket.socket(fileno=fd) as sock:
        sock.setblocking(False)
        while await loop.sock_recv(sock, 1):
            body = exposition.render(exposition.COMPONENTS)
            await loop.sock_sendall(sock, len(body).to_bytes(8, "big") + body)


def main(argv: list[str] | None = None) -> int:
    spec: ChildSpec = child_spec(argv, "python -m controlplane.componentsproc",
                                 "Started by pyctl-controlplane; reads its configuration "
                                 "from stdin. Not for running by hand.", b"pyctl-comps")
    logging.basicConfig(level=logging.DEBUG if spec.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s [components] %(name)s: %(message)s")
    return eventloop.run(_serve(spec))


if __name__ == "__main__":
    sys.exit(main())
