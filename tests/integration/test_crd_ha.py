"""Two API server processes on one etcd: a CRD created through one is served by the other
without a restart, its objects are shared, and its deletion is seen by both. A restarted API
server serves the CRDs that exist from its first request."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import aiohttp

from .crds import CRDS, established, widget, widget_crd
from ..cluster import Client, Etcd, free_port, wait_until

REPO = Path(__file__).resolve().parents[2]
W = "/apis/example.com/v1/namespaces/default/widgets"


class ApiProcess:
    def __init__(self, etcd: Etcd, port: int | None = None) -> None:
        self.port = port or free_port()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "controlplane", "--etcd-servers", etcd.url,
             "--listen", f"127.0.0.1:{self.port}", "--components", "apiserver"],
            cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            env={**os.environ, "PYTHONPATH": str(REPO)})
        self.client = Client(f"http://127.0.0.1:{self.port}")

    async def ready(self) -> "ApiProcess":
        async def up():
            try:
                return (await self.client.request("GET", "/readyz"))[0] == 200
            except aiohttp.ClientError:
                return False
        await wait_until(up, timeout=60, interval=0.2)
        return self

    async def stop(self, sig: int = signal.SIGTERM) -> None:
        await self.client.close()
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


async def test_a_crd_is_served_by_every_api_server_and_survives_a_restart(etcd):
    a, b = await ApiProcess(etcd).ready(), await ApiProcess(etcd).ready()
    try:
        status, body = await a.client.request("POST", CRDS, widget_crd())
        assert status == 201, body
        await established(b.client, "widgets.example.com", timeout=30)
        status, made = await b.client.request("POST", W, widget("shared"))
        assert status == 201, made
        await established(a.client, "widgets.example.com", timeout=30)
        status, got = await a.client.request("GET", f"{W}/shared")
        assert status == 200 and got["metadata"]["uid"] == made["metadata"]["uid"]

        # Killed and started again, an API server serves the CRD from its first request.
        port = a.port
        await a.stop(signal.SIGKILL)
        a = await ApiProcess(etcd, port).ready()
        status, got = await a.client.request("GET", f"{W}/shared")
        assert status == 200

        # Deleted through one, the objects go and neither serves the kind any more.
        assert (await a.client.request("DELETE", f"{CRDS}/widgets.example.com"))[0] == 200

        async def gone(server: ApiProcess) -> bool:
            listing = await server.client.request("GET", "/apis/example.com/v1")
            return listing[0] == 404 and (await server.client.request("GET", f"{CRDS}/widgets.example.com"))[0] == 404
        await wait_until(lambda: gone(a), timeout=30)
        await wait_until(lambda: gone(b), timeout=30)
        status, groups = await b.client.request("GET", "/apis")
        assert "example.com" not in [g["name"] for g in groups["groups"]]
    finally:
        await a.stop()
        await b.stop()
