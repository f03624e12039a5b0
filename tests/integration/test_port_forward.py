"""`pods/portforward` against hollow agents (no root): the API server's checks before the
WebSocket upgrade answer as kube does (400 BadRequest Status), a hollow node refuses the
connection with a clear message on the port's error channel, `pyctl port-forward` reports
that per connection while its listener carries on, and the real kubectl (SPDY in the
WebSocket) shows it and stops, as it does against a real cluster."""

from __future__ import annotations

import asyncio
import os
import signal
import struct
import sys
from contextlib import asynccontextmanager
from pathlib import Path
from typing import AsyncIterator

import aiohttp
import pytest

from ..cluster import wait_until
from .kubectl import Kubectl
from .test_logs import PODS, cluster, create_running, pod  # noqa: F401  (the fixture)
from .test_pyctl import REPO, pyctl

HOLLOW = "the node runs hollow (simulated) pods, nothing listens on their ports"


async def running_phase(client, name: str) -> bool:
    return (await client.request("GET", f"{PODS}/{name}"))[1].get("status", {}).get("phase") == "Running"


async def start_running(client, manifest: dict) -> None:
    await create_running(client, manifest)
    await wait_until(lambda: running_phase(client, manifest["metadata"]["name"]))


async def websocket_messages(url: str, ports: str, protocol: str | None = "v4.channel.k8s.io"
                             ) -> tuple[str | None, list[bytes]]:
    """The subprotocol chosen and every message, offering `protocol` (None: offering none)."""
    async with aiohttp.ClientSession() as http:
        async with http.ws_connect(url, params={"ports": ports},
                                   protocols=() if protocol is None else (protocol,)) as ws:
            messages = [msg.data async for msg in ws]
    return ws.protocol, messages


class Forwarder:
    """A running `pyctl port-forward` (or any forwarder printing `Forwarding from A:P -> R`)."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.ports: list[int] = []
        self.err = b""

    async def listening(self, count: int) -> list[int]:
        """The local ports of the first `count` `Forwarding from` lines."""
        while len(self.ports) < count:
            assert self.proc.stdout is not None
            line = await asyncio.wait_for(self.proc.stdout.readline(), 60)
            assert line, f"the forwarder ended: {await self.proc.stderr.read() if self.proc.stderr else ''}"
            if line.startswith(b"Forwarding from "):
                self.ports.append(int(line.split()[2].rsplit(b":", 1)[1]))
        return self.ports

    async def stderr_until(self, text: str) -> str:
        assert self.proc.stderr is not None
        while text.encode() not in self.err:
            try:
                chunk = await asyncio.wait_for(self.proc.stderr.read(4096), 60)
            except asyncio.TimeoutError:
                raise AssertionError(f"no {text!r} on stderr within 60 s: {self.err!r}") from None
            assert chunk, f"stderr ended without {text!r}: {self.err!r}"
            self.err += chunk
        return self.err.decode()


@asynccontextmanager
async def forwarding(argv: list[str], env: dict[str, str]) -> AsyncIterator[Forwarder]:
    """Run a forwarder; on the way out Ctrl-C it and check that it ends cleanly."""
    proc = await asyncio.create_subprocess_exec(*argv, cwd=str(REPO), env=env, stdin=asyncio.subprocess.DEVNULL,
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    f = Forwarder(proc)
    try:
        yield f
        if proc.returncode is None:  # (a test may have waited for it to end by itself)
            proc.send_signal(signal.SIGINT)
            code = await asyncio.wait_for(proc.wait(), 30)
            assert code == 0, f.err + (await proc.stderr.read() if proc.stderr else b"")
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert b"Traceback" not in f.err + (await proc.stderr.read() if proc.stderr else b"")


def pyctl_forward(server: str, *args: str) -> tuple[list[str], dict[str, str]]:
    env = {**os.environ, "PYTHONPATH": str(REPO), "PYCTL_CONFIG": str(Path("/nonexistent"))}
    return [sys.executable, "-m", "pyctl", "--server", server, "port-forward", *args], env


async def exchange(port: int, request: bytes) -> bytes:
    """Send `request` to 127.0.0.1:port and read until the other side closes."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(request)
        await writer.drain()
        return await asyncio.wait_for(reader.read(), 60)
    finally:
        writer.close()


async def test_a_hollow_node_refuses_on_the_error_channel(cluster, api):  # noqa: F811
    await start_running(cluster, pod("web"))
    # None: no Sec-WebSocket-Protocol at all (kr8s), served the base channel protocol as kube does
    for protocol in ("v4.channel.k8s.io", "portforward.k8s.io", None):
        chosen, messages = await websocket_messages(f"{api.url}{PODS}/web/portforward", "80,8080", protocol)
        assert chosen == protocol
        headers = {m[0]: m[1:] for m in messages[:4]}  # data 2i and error 2i+1, port i first
        assert headers == {0: struct.pack("<H", 80), 1: struct.pack("<H", 80),
                           2: struct.pack("<H", 8080), 3: struct.pack("<H", 8080)}
        errors = {m[0]: m[1:].decode() for m in messages[4:]}
        assert sorted(errors) == [1, 3]  # nothing on the data channels
        assert errors[1].startswith("error forwarding port 80 to pod web, uid ") and HOLLOW in errors[1]
        assert errors[3].startswith("error forwarding port 8080 to pod web") and HOLLOW in errors[3]


async def test_checks_before_the_upgrade_are_kube_statuses(cluster, api):  # noqa: F811
    async def status(name: str, params: dict[str, str] | None = None) -> tuple[int, str, str]:
        code, body = await cluster.request("GET", f"{PODS}/{name}/portforward",
                                           params={"ports": "80"} if params is None else params)
        return code, body["reason"], body["message"]

    assert await status("nosuch") == (404, "NotFound", 'pods "nosuch" not found')
    status_code, body = await cluster.request("POST", PODS, {**pod("pending"), "spec": {
        "containers": [{"name": "c", "image": "busybox"}], "nodeSelector": {"none": "x"}}})
    assert status_code == 201, body
    assert await status("pending") == (400, "BadRequest", "pod pending does not have a host assigned")
    await start_running(cluster, pod("web"))
    for bad in ("0", "65536", "http", "80,"):
        code, reason, message = await status("web", {"ports": bad})
        assert (code, reason) == (400, "BadRequest") and "invalid port" in message, (bad, message)
    code, reason, message = await status("web")  # valid, but not a WebSocket
    assert (code, reason) == (400, "BadRequest") and message.startswith("Upgrade request required")
    for ports, protocol in (("80", "SPDY/3.0"), ("", "v4.channel.k8s.io")):  # no such protocol; no port
        with pytest.raises(aiohttp.WSServerHandshakeError) as err:
            await websocket_messages(f"{api.url}{PODS}/web/portforward", ports, protocol)
        assert err.value.status == 400
    _, resources = await cluster.request("GET", "/api/v1")
    assert {"name": "pods/portforward", "kind": "PodPortForwardOptions"}.items() <= next(
        r for r in resources["resources"] if r["name"] == "pods/portforward").items()


async def test_pyctl_reports_each_refused_connection_and_keeps_listening(cluster, api):  # noqa: F811
    await start_running(cluster, pod("web"))
    async with forwarding(*pyctl_forward(api.url, "web", ":80")) as f:
        local = (await f.listening(1))[0]
        for _ in range(2):  # the listener survives a refused connection
            assert await exchange(local, b"GET / HTTP/1.0\r\n\r\n") == b""
            line = await f.stderr_until(f"{HOLLOW}\n")
            assert line.startswith(f"error: an error occurred forwarding {local} -> 80: error forwarding "
                                   "port 80 to pod web, uid "), line
            f.err = b""


async def test_pyctl_bad_input_is_a_clear_error(cluster, api):  # noqa: F811
    await start_running(cluster, pod("web"))
    for args, message in [(("web", "x:80"), "invalid local port 'x'"),
                          (("web", "8080:0"), "invalid remote port '0'"),
                          (("web", "8080:http"), "Pod 'web' does not have a named port 'http'"),
                          (("nosuch", "80"), 'pods "nosuch" not found')]:
        r = await pyctl(api.url, "port-forward", *args)
        assert r.code == 1 and message in r.err and r.out == "", (args, r)
    service = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "front"},
               "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}]}}
    assert (await cluster.request("POST", "/api/v1/namespaces/default/services", service))[0] == 201
    r = await pyctl(api.url, "port-forward", "svc/front", "8080:81")
    assert (r.code, r.err) == (1, "error: Service front does not have a service port 81\n")
    status_code, body = await cluster.request("POST", PODS, {**pod("pending"), "spec": {
        "containers": [{"name": "c", "image": "busybox"}], "nodeSelector": {"none": "x"}}})
    assert status_code == 201, body
    r = await pyctl(api.url, "port-forward", "pending", "8080:80")
    assert (r.code, r.err) == (1, "error: unable to forward port because pod is not running. "
                                  "Current status=Pending\n")


async def test_kubectl_shows_the_refusal_and_stops(cluster, api, tmp_path):  # noqa: F811
    await start_running(cluster, pod("web"))
    kubectl = Kubectl(api.url, tmp_path)
    async with forwarding(kubectl.argv("port-forward", "pod/web", ":80"), {**os.environ, "HOME": str(tmp_path)}) as f:
        local = (await f.listening(1))[0]
        assert await exchange(local, b"GET / HTTP/1.0\r\n\r\n") == b""
        assert HOLLOW in await f.stderr_until(HOLLOW)
        # kubectl ends on a forwarding error (it does so against a real cluster too).
        assert await asyncio.wait_for(f.proc.wait(), 60) == 1
        assert "error: lost connection to pod" in await f.stderr_until("lost connection")
