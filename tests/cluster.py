"""Real parts for tests: an etcd process and the API server over HTTP on loopback."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field

import aiohttp
from aiohttp import web



def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Etcd:
    """A throwaway etcd member on free loopback ports (alone, unless `initial_cluster` names peers)."""

    data_dir: str = field(default_factory=lambda: tempfile.mkdtemp(prefix="pyctl-etcd-"))
    client_port: int = field(default_factory=free_port)
    peer_port: int = field(default_factory=free_port)
    proc: subprocess.Popen | None = None
    name: str = "test"
    host: str = "127.0.0.1"
    initial_cluster: str = ""
    """NAME=PEER_URL,... of every member; empty: this member alone."""
    flags: tuple[str, ...] = ()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.client_port}"

    @property
    def peer_url(self) -> str:
        return f"http://{self.host}:{self.peer_port}"

    def start(self, wait: bool = True) -> "Etcd":
        """Start (or restart, on the same data) the member; `wait` for its client port."""
        binary = shutil.which("etcd")
        if binary is None:
            raise RuntimeError("etcd is not installed: run `bash deploy/test.sh` (it installs etcd-server)")
        # setpriv makes the kernel SIGKILL etcd if the test process dies, even killed outright;
        # a Python preexec_fn would fork a process full of gRPC threads, which gRPC forbids.
        self.proc = subprocess.Popen(
            ["setpriv", "--pdeathsig", "KILL", "--", binary, "--name", self.name, "--data-dir", self.data_dir,
             "--listen-client-urls", self.url, "--advertise-client-urls", self.url,
             "--listen-peer-urls", self.peer_url, "--initial-advertise-peer-urls", self.peer_url,
             "--initial-cluster", self.initial_cluster or f"{self.name}={self.peer_url}",
             *self.flags, "--log-level", "error", "--logger", "zap"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        if wait:
            self.wait_for_port()
        return self

    def wait_for_port(self, timeout: float = 20) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"etcd exited: {self.proc.stderr.read().decode()[-2000:]}")
            with socket.socket() as s:
                if s.connect_ex((self.host, self.client_port)) == 0:
                    return
            time.sleep(0.05)
        raise RuntimeError(f"etcd did not start within {timeout}s")

    def wait_healthy(self, timeout: float = 30) -> None:
        """Until the member serves (its /health says so: it has a leader, a quorum is up)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(self.url + "/health", timeout=1) as resp:
                    if json.loads(resp.read()).get("health") == "true":
                        return
            except (OSError, ValueError):
                pass
            time.sleep(0.1)
        raise RuntimeError(f"etcd member {self.name} was not healthy within {timeout}s")

    def pause(self) -> None:
        """SIGSTOP: the member keeps its connections open and answers nothing (a frozen host)."""
        self.proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        self.proc.send_signal(signal.SIGCONT)

    def kill(self) -> None:
        """SIGKILL, keeping the data: start() brings the member back."""
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)  # a paused member would not see the TERM
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.data_dir, ignore_errors=True)


class EtcdCluster:
    """Three etcd members as deploy/etcd/ lays them out on three hosts: here 127.0.0.1, .2 and
    .3, one client port and one peer port for all (plain http peers), named n1..n3, with the
    unit's token and compaction flags. Each member is a real process to kill, freeze or restart."""

    def __init__(self, size: int = 3) -> None:
        client, peer = free_port(), free_port()
        hosts = [f"127.0.0.{i + 1}" for i in range(size)]
        cluster = ",".join(f"n{i + 1}=http://{h}:{peer}" for i, h in enumerate(hosts))
        flags = ("--initial-cluster-state", "new", "--initial-cluster-token", "pyctl-test",
                 "--auto-compaction-mode", "periodic", "--auto-compaction-retention", "1h")
        self.members = [Etcd(client_port=client, peer_port=peer, name=f"n{i + 1}", host=h,
                             initial_cluster=cluster, flags=flags) for i, h in enumerate(hosts)]

    @property
    def urls(self) -> tuple[str, ...]:
        return tuple(m.url for m in self.members)

    @property
    def url(self) -> str:
        return self.members[0].url

    def start(self) -> "EtcdCluster":
        for m in self.members:  # all at once: each waits for a quorum before it serves
            m.start(wait=False)
        for m in self.members:
            m.wait_for_port()
        for m in self.members:
            m.wait_healthy()
        return self

    def stop(self) -> None:
        for m in self.members:
            m.stop()


class ApiServer:
    """The real API server app, served over HTTP on a fixed loopback port so it can restart."""

    def __init__(self, etcd: "Etcd | EtcdCluster", port: int | None = None, **config) -> None:
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

        servers = getattr(self.etcd, "urls", None) or (self.etcd.url,)
        app = build_app(ApiConfig(**{"etcd_servers": servers, "compaction_interval": 3600,
                                     **self.config}))
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port, reuse_address=True).start()
        return self

    async def stop(self) -> None:
        if self._runner:
            await self._runner.cleanup()
            self._runner = None

    def app(self) -> web.Application:
        assert self._runner is not None
        return self._runner.app


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
