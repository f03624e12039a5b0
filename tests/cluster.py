"""Real parts for tests: an etcd process and the API server over HTTP on loopback."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field

import aiohttp
from aiohttp import web



def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Etcd:
    """A throwaway single-member etcd on free loopback ports."""

    data_dir: str = field(default_factory=lambda: tempfile.mkdtemp(prefix="pyctl-etcd-"))
    client_port: int = field(default_factory=free_port)
    peer_port: int = field(default_factory=free_port)
    proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.client_port}"

    def start(self) -> "Etcd":
        binary = shutil.which("etcd")
        if binary is None:
            raise RuntimeError("etcd is not installed: run `bash deploy/test.sh` (it installs etcd-server)")
        # setpriv makes the kernel SIGKILL etcd if the test process dies, even killed outright;
        # a Python preexec_fn would fork a process full of gRPC threads, which gRPC forbids.
        self.proc = subprocess.Popen(
            ["setpriv", "--pdeathsig", "KILL", "--", binary, "--name", "test", "--data-dir", self.data_dir,
             "--listen-client-urls", self.url, "--advertise-client-urls", self.url,
             "--listen-peer-urls", f"http://127.0.0.1:{self.peer_port}",
             "--initial-advertise-peer-urls", f"http://127.0.0.1:{self.peer_port}",
             "--initial-cluster", f"test=http://127.0.0.1:{self.peer_port}",
             "--log-level", "error", "--logger", "zap"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"etcd exited: {self.proc.stderr.read().decode()[-2000:]}")
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", self.client_port)) == 0:
                    return self
            time.sleep(0.05)
        raise RuntimeError("etcd did not start within 20s")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.data_dir, ignore_errors=True)


class ApiServer:
    """The real API server app, served over HTTP on a fixed loopback port so it can restart."""

    def __init__(self, etcd: Etcd, port: int | None = None, **config) -> None:
        self.etcd = etcd
        self.port = port or free_port()
        self.config = config  # ApiConfig fields beyond the defaults below
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> "ApiServer":
        from controlplane.api.app import build_app
        from controlplane.api.config import ApiConfig

        app = build_app(ApiConfig(**{"etcd_servers": (self.etcd.url,), "compaction_interval": 3600,
                                     **self.config}))
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port, reuse_address=True).start()
        return self

    async def stop(self) -> None:
        if self._runner:
            await self._runner.cleanup()
            self._runner = None


class Client:
    """A tiny JSON client for tests that want to see status codes and bodies as they are."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.session = aiohttp.ClientSession()

    async def request(self, method: str, path: str, body=None, *, headers=None, data=None,
                      params=None) -> tuple[int, object]:
        kwargs = {}
        if body is not None:
            kwargs["json"] = body
        if data is not None:
            kwargs["data"] = data
        async with self.session.request(method, self.base + path, headers=headers, params=params,
                                        **kwargs) as resp:
            text = await resp.read()
            try:
                import json
                return resp.status, json.loads(text) if text else None
            except ValueError:
                return resp.status, text.decode(errors="replace")

    async def close(self) -> None:
        await self.session.close()


async def wait_until(predicate, timeout: float = 10.0, interval: float = 0.05):
    """Poll an async or sync predicate until truthy; the last value is returned or an AssertionError."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        value = predicate()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        await asyncio.sleep(interval)


async def stop_process(proc: "asyncio.subprocess.Process", grace: float = 30.0) -> None:
    """TERM, then KILL after `grace` seconds, for a process a test started with asyncio."""
    if proc.returncode is None:
        proc.terminate()
        try:
            await asyncio.wait_for(proc.wait(), grace)
        except TimeoutError:
            proc.kill()
            await proc.wait()
