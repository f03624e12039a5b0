"""`pyctl port-forward`: forward local ports to a pod's ports, as `kubectl port-forward`.

It resolves the target once (a pod, or the pod kubectl would pick for a deployment or
service, a service port becoming its targetPort), refuses a pod that is not running, then
listens on loopback. Each accepted local connection gets its own WebSocket to
`.../pods/NAME/portforward?ports=REMOTE` (subprotocol v4.channel.k8s.io): channel 0 carries
the data, channel 1 the error text, and the first message on each is the port (uint16 LE).
A failed connection is reported and closed; the listeners carry on until Ctrl-C.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import urllib.parse
from dataclasses import dataclass
from typing import Any

import aiohttp

from ..client import _ssl_context
from ..errors import CommandError, UsageError
from ..session import Session
from . import Command, register
from ._targets import fetch, from_arguments
from .logs import _pod_of

PROTOCOL = "v4.channel.k8s.io"
DATA, ERROR = 0, 1
CHUNK = 32 * 1024

EXAMPLES = """\
# Listen on 127.0.0.1:8080 and forward to port 80 of pod web
pyctl port-forward web 8080:80

# Several ports; a single number uses the same port locally
pyctl port-forward pod/web 5000 6000:6001

# A random local port (printed), forwarded to a deployment's pod
pyctl port-forward deployment/myapp :80

# A service port (its targetPort on one of the service's pods), on every local address
pyctl port-forward svc/front 8443:443 --address 0.0.0.0
"""


@dataclass(frozen=True)
class Forward:
    local: int  # 0: any free port
    remote: int


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("target", metavar="POD | TYPE/NAME")
    p.add_argument("ports", nargs="+", metavar="[LOCAL_PORT:]REMOTE_PORT")
    p.add_argument("--address", action="append", default=None, metavar="ADDRESS",
                   help="local address to listen on (repeat or comma-separate; default 127.0.0.1)")


def _port(word: str, what: str, allow_zero: bool = False) -> int:
    if not word.isdigit() or not (0 if allow_zero else 1) <= int(word) < 65536:
        raise UsageError(f"invalid {what} port {word!r}: must be a number between 1 and 65535",
                         "port-forward")
    return int(word)


def named_port(pod: dict[str, Any], name: str) -> int:
    """A container port by name (kubectl accepts a named remote port)."""
    for c in (pod.get("spec") or {}).get("containers") or []:
        for port in c.get("ports") or []:
            if port.get("name") == name:
                return int(port["containerPort"])
    raise CommandError(f"Pod '{pod['metadata']['name']}' does not have a named port '{name}'")


def parse_forwards(words: list[str], pod: dict[str, Any], service: dict[str, Any] | None) -> list[Forward]:
    out = []
    for word in words:
        local, sep, remote = word.rpartition(":")
        if not remote:
            raise UsageError(f"invalid port specification {word!r}", "port-forward")
        if service is not None:
            remote_port = target_port(service, pod, remote)
        else:
            remote_port = _port(remote, "remote") if remote.isdigit() else named_port(pod, remote)
        if not sep:  # "80": the same number locally (for a service, its port, not its target)
            local_port = _port(remote, "remote") if remote.isdigit() else remote_port
        else:  # ":80": any free local port
            local_port = _port(local, "local", allow_zero=True) if local else 0
        out.append(Forward(local_port, remote_port))
    return out


def target_port(service: dict[str, Any], pod: dict[str, Any], word: str) -> int:
    """kubectl's translateServicePortToTargetPort: a service port to its pod's port."""
    name = service["metadata"]["name"]
    for port in (service.get("spec") or {}).get("ports") or []:
        if str(port.get("port")) == word or port.get("name") == word:
            target = port.get("targetPort", port.get("port"))
            return named_port(pod, target) if isinstance(target, str) and not target.isdigit() else int(target)
    raise CommandError(f"Service {name} does not have a service port {word}")


def _addresses(given: list[str] | None) -> list[str]:
    words = [w.strip() for a in given or ["127.0.0.1"] for w in a.split(",") if w.strip()]
    return ["127.0.0.1" if w == "localhost" else w for w in words]


def run(s: Session, a: argparse.Namespace) -> int:
    targets = from_arguments(s, [a.target if "/" in a.target else f"pods/{a.target}"], "port-forward")
    target = targets[0]
    pod = _pod_of(s, target)
    service = fetch(s, target) if target.resource.kind == "Service" else None
    forwards = parse_forwards(a.ports, pod, service)
    phase = (pod.get("status") or {}).get("phase")
    if phase != "Running":
        raise CommandError(f"unable to forward port because pod is not running. Current status={phase}")
    md, client = pod["metadata"], s.client
    path = s.discovery.resolve("pods")[0].path(md.get("namespace"), md["name"], "portforward")
    server = urllib.parse.urlsplit(client.server)
    url = urllib.parse.urlunsplit((server.scheme.replace("http", "ws"), server.netloc,
                                   client.url(path), "", ""))
    # The client's header and TLS helpers: the same credentials as every other request.
    forwarder = Forwarder(url, client._headers("*/*", None),
                          _ssl_context(s.connection) if server.scheme == "https" else None)
    try:
        asyncio.run(forwarder.serve(_addresses(a.address), forwards))
    except KeyboardInterrupt:
        pass  # Ctrl-C is how port-forward ends
    return 0


class Forwarder:
    def __init__(self, url: str, headers: dict[str, str], ssl: Any) -> None:
        self.url, self.headers, self.ssl = url, headers, ssl

    async def serve(self, addresses: list[str], forwards: list[Forward]) -> None:
        servers = []
        async with aiohttp.ClientSession() as self.http:
            for f in forwards:
                for address in addresses:
                    try:
                        srv = await asyncio.start_server(self._handler(f), address, f.local)
                    except OSError as exc:
                        raise CommandError(f"unable to listen on {_show(address, f.local)}: "
                                           f"{exc.strerror or exc}") from None
                    servers.append(srv)
                    port = srv.sockets[0].getsockname()[1]
                    print(f"Forwarding from {_show(address, port)} -> {f.remote}", flush=True)
            try:
                await asyncio.Event().wait()  # until Ctrl-C
            finally:
                for srv in servers:
                    srv.close()

    def _handler(self, f: Forward):  # type: ignore[no-untyped-def]
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            local = writer.get_extra_info("sockname")[1]
            print(f"Handling connection for {local}", flush=True)
            try:
                await self._forward(reader, writer, f.remote, local)
            except (aiohttp.ClientError, OSError) as exc:
                _error(f"an error occurred forwarding {local} -> {f.remote}: {exc}")
            finally:
                writer.close()
        return handle

    async def _forward(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                       remote: int, local: int) -> None:
        try:
            ws = await self.http.ws_connect(self.url, params={"ports": str(remote)}, protocols=(PROTOCOL,),
                                            headers=self.headers, ssl=self.ssl, max_msg_size=0)
        except aiohttp.WSServerHandshakeError as exc:
            _error(f"unable to upgrade connection: {exc.status} {exc.message}")
            return
        async with ws:
            sender = asyncio.create_task(_send(reader, ws))
            seen: set[int] = set()
            problem = b""
            try:
                async for msg in ws:
                    if msg.type != aiohttp.WSMsgType.BINARY or not msg.data:
                        continue
                    if msg.data[0] not in seen:
                        seen.add(msg.data[0])  # each channel's first message is its port number
                    elif msg.data[0] == DATA:
                        writer.write(msg.data[1:])
                        await writer.drain()
                    elif msg.data[0] == ERROR:
                        problem += msg.data[1:]
            finally:
                sender.cancel()
        if problem:
            _error(f"an error occurred forwarding {local} -> {remote}: "
                   f"{problem.decode(errors='replace')}")


async def _send(reader: asyncio.StreamReader, ws: aiohttp.ClientWebSocketResponse) -> None:
    """Local bytes to the data channel. The protocol cannot half-close, so at local EOF the
    reply keeps coming until the pod closes the connection."""
    with contextlib.suppress(ConnectionError):
        while data := await reader.read(CHUNK):
            await ws.send_bytes(bytes([DATA]) + data)


def _show(address: str, port: int) -> str:
    return f"[{address}]:{port}" if ":" in address else f"{address}:{port}"


def _error(text: str) -> None:
    print(f"error: {text}", file=sys.stderr, flush=True)


register(Command("port-forward", "Forward one or more local ports to a pod", configure, run, EXAMPLES,
                 group="Troubleshooting and Debugging Commands",
                 description="Forward one or more local ports to a pod. Use TYPE/NAME to select a pod "
                             "of a deployment or service (a service port is forwarded to its "
                             "targetPort). Listens on 127.0.0.1 unless --address says otherwise; "
                             "each local connection is forwarded separately, until Ctrl-C.",
                 usage="pyctl port-forward (POD | TYPE/NAME) [LOCAL_PORT:]REMOTE_PORT [...] "
                       "[--address ADDRESS]"))
