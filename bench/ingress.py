"""The ingress proxy's cost: requests through it (HTTP and HTTPS) against the same backend hit directly.

The backend is the demo pod's server, busybox httpd, serving a small page on 127.0.0.1; the proxy
is the agent's own IngressProxy (HAProxy, configured from an IngressTable with that backend as the
only endpoint of `bench.example`), bound to 127.0.0.1. Everything runs on loopback on this
machine, so the client (this process, aiohttp) shares the cores with what it measures. Like
with like first: a new connection for every request, directly and through the proxy (busybox
closes every connection anyway); then through the proxy on kept-alive connections (HTTP, and
HTTPS with the TLS handshake paid once per connection), as browsers use it; HAProxy opens a
new connection to the backend for each request in every case. Concurrency stays within 8:
busybox httpd listens with a backlog of 9, and more simultaneous connects overflow it (the
kernel drops SYNs, retried after a second) whatever is in front of it.
"""

from __future__ import annotations

import asyncio
import shutil
import ssl
import subprocess
import tempfile
from pathlib import Path

import aiohttp

from pyctl_proto import node_pb2 as pb

from agent.ingress.config import Settings
from agent.ingress.proxy import IngressProxy

from .report import Section, Table
from .stats import Samples, ms, ratio, run_load

HOST = "bench.example"
PAGE = "<h1>pyctl demo</h1>\n" * 10  # about 200 bytes, as the demo page


def _free_port() -> int:
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _table(port: int) -> pb.IngressTable:
    return pb.IngressTable(
        hosts=[pb.IngressHost(host=HOST, paths=[pb.IngressPath(path="/", path_type="Prefix", backend="b/web:80")])],
        backends=[pb.IngressBackend(name="b/web:80", endpoints=[pb.ServiceBackend(ip="127.0.0.1", port=port)])])


async def _measure(url: str, count: int, concurrency: int, headers: dict[str, str], keep_alive: bool) -> Samples:
    connector = aiohttp.TCPConnector(limit=concurrency, force_close=not keep_alive)
    async with aiohttp.ClientSession(connector=connector) as session:
        async def get(_: int) -> None:
            async with session.get(url, headers=headers) as r:
                if r.status != 200:
                    raise RuntimeError(f"HTTP {r.status}")
                await r.read()
        for _ in range(min(20, count)):  # warm up: connections, HAProxy's workers
            await get(0)
        return await run_load(get, count, concurrency, time_limit=60)


async def run(quick: bool, workdir: str, facts: dict) -> Section:
    sec = Section("ingress", "Ingress proxy (HAProxy) vs the pod directly", __doc__.split("\n\n")[1].replace("\n", " "))
    if not shutil.which("haproxy") or not shutil.which("busybox"):
        sec.notes.append("Skipped: needs haproxy and busybox (deploy/install-deps.sh).")
        return sec
    root = Path(tempfile.mkdtemp(prefix="ingress-", dir=workdir))
    (root / "www").mkdir()
    (root / "www" / "index.html").write_text(PAGE)
    backend_port = _free_port()
    httpd = subprocess.Popen(["busybox", "httpd", "-f", "-p", f"127.0.0.1:{backend_port}", "-h", str(root / "www")],
                             stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    settings = Settings(http_port=_free_port(), https_port=_free_port(), address="127.0.0.1")
    proxy = IngressProxy(root / "proxy", settings, min_interval=0)
    proxy.update(_table(backend_port))
    tls = ssl.create_default_context()
    tls.check_hostname, tls.verify_mode = False, ssl.CERT_NONE  # the node's self-signed default certificate
    count = 300 if quick else 3000
    rows = []
    try:
        await proxy.sync()
        for _ in range(100):  # until HAProxy answers (bounded: 5 s)
            try:
                await _measure(f"http://127.0.0.1:{settings.http_port}/", 1, 1, {"Host": HOST}, False)
                break
            except (aiohttp.ClientError, RuntimeError):
                await asyncio.sleep(0.05)
        proxied = f"http://127.0.0.1:{settings.http_port}/"
        for c in (1, 8):
            direct = await _measure(f"http://127.0.0.1:{backend_port}/", count, c, {}, False)
            runs = [("pod directly, new connections", direct),
                    ("ingress HTTP, new connections", await _measure(proxied, count, c, {"Host": HOST}, False)),
                    ("ingress HTTP, keep-alive", await _measure(proxied, count, c, {"Host": HOST}, True)),
                    ("ingress HTTPS, keep-alive", await _https(settings, count, c, tls))]
            for label, s in runs:
                rows.append([label, str(c), f"{s.throughput:.0f}", ms(s.p50), ms(s.p99),
                             ratio(s.throughput, direct.throughput), ratio(s.p50, direct.p50),
                             f"{s.count}/{count} ({s.errors})"])
                if c == 8 and "new" in label:
                    sec.distributions[f"{label.split(',')[0]} c=8"] = s.latencies
    finally:
        await proxy.stop()
        httpd.terminate()
        httpd.wait(timeout=10)
        shutil.rmtree(root, ignore_errors=True)
    sec.tables.append(Table("Requests for a ~200-byte page: through the ingress proxy vs the backend directly",
                            ["path", "c", "req/s", "p50 ms", "p99 ms", "throughput / direct", "p50 / direct",
                             "n (errors)"], rows))
    return sec


async def _https(settings: Settings, count: int, c: int, tls: ssl.SSLContext) -> Samples:
    """HTTPS with SNI `bench.example`, the connection made to 127.0.0.1 (aiohttp resolves through this)."""
    resolver = _Pinned(HOST, "127.0.0.1")
    connector = aiohttp.TCPConnector(limit=c, ssl=tls, resolver=resolver)
    async with aiohttp.ClientSession(connector=connector) as session:
        url = f"https://{HOST}:{settings.https_port}/"

        async def get(_: int) -> None:
            async with session.get(url) as r:
                if r.status != 200:
                    raise RuntimeError(f"HTTP {r.status}")
                await r.read()
        for _ in range(min(20, count)):
            await get(0)
        return await run_load(get, count, c, time_limit=60)


class _Pinned(aiohttp.abc.AbstractResolver):
    """Resolves one name to one address (curl --resolve), nothing else: no DNS is ever asked."""

    def __init__(self, name: str, address: str) -> None:
        self.name, self.address = name, address

    async def resolve(self, host: str, port: int = 0, family: int = 0) -> list[dict]:  # type: ignore[override]
        if host != self.name:
            raise OSError(f"{host}: only {self.name} resolves here")
        return [{"hostname": host, "host": self.address, "port": port, "family": 2, "proto": 0, "flags": 0}]

    async def close(self) -> None:
        pass
