"""pods/portforward: Kubernetes' WebSocket port-forward protocol, relayed to the gRPC
PortForward of the pod's node agent (as kube-apiserver relays port-forward to the kubelet).

This module owns the `ports` query (repeated or comma-separated, each 1..65535), the checks
made before upgrading (400 BadRequest), the channel layout and the relay. Subprotocols
`v4.channel.k8s.io` and `portforward.k8s.io` (the kubelet's), or none at all (the base
channel protocol, which kr8s's client asks for by offering no subprotocol; the 101 then
names none): every message's first byte is the channel (the server sends binary messages; a
client's text message counts as its UTF-8 bytes); port i (in query order) has data channel
2i and error channel 2i+1, and the first message on each carries the port as uint16 little
endian. A port whose
connection fails gets the reason as text on its error channel. When every port's connection
has ended the WebSocket closes. kubectl 1.37 offers `SPDY/3.1+portforward.k8s.io` instead:
SPDY streams inside the WebSocket, an error and a data stream per connection
(portforward_spdy.py); its fallback, a plain SPDY upgrade, is not served.
"""

from __future__ import annotations

import asyncio
import contextlib
import struct
from typing import Any

from aiohttp import hdrs, web

from pyctl_proto import node_pb2 as pb

from .agentchannel import agent_channel
from .agentports import AgentPorts, Send
from .exec import client_frame, frame
from .nodeproxy import AgentProxy, bad, handler_cancelled, node_agent
from .paths import Target
from .portforward_spdy import SpdySession

PROTOCOLS = ("v4.channel.k8s.io", "portforward.k8s.io")
SPDY_TUNNEL = "SPDY/3.1+portforward.k8s.io"  # kubectl's: SPDY frames inside the WebSocket


def ports_of(request: web.Request) -> list[int]:
    """The `ports` query: none, or each valid (SPDY names a stream's port in its headers)."""
    words = [w.strip() for value in request.query.getall("ports", []) for w in value.split(",")]
    if not any(words):
        return []
    ports = []
    for word in words:
        if not word.isdigit() or not 0 < int(word) < 65536:
            raise bad(f"invalid port {word!r}: must be an integer between 1 and 65535")
        ports.append(int(word))
    return ports


def check_forwardable(pod: dict[str, Any]) -> None:
    name = pod["metadata"]["name"]
    if not (pod.get("spec") or {}).get("nodeName"):
        raise bad(f"pod {name} does not have a host assigned")
    phase = (pod.get("status") or {}).get("phase")
    if phase != "Running":
        raise bad(f"unable to forward port because pod is not running. Current status={phase}")


def port_header(channel: int, port: int) -> bytes:
    return frame(channel, struct.pack("<H", port))


class PortForwardProxy(AgentProxy):
    """The handler subresources.py calls for pods/portforward (GET, or POST as SPDY clients send)."""

    async def __call__(self, request: web.Request, target: Target) -> web.StreamResponse:
        objects, pod = self._pod(request, target)
        ports = ports_of(request)
        check_forwardable(pod)
        node = pod["spec"]["nodeName"]
        address = node_agent(objects, node)
        ws = web.WebSocketResponse(protocols=PROTOCOLS + (SPDY_TUNNEL,))
        ready = ws.can_prepare(request)
        if not ready.ok:
            raise bad("Upgrade request required: pods/portforward is served over a WebSocket with "
                      f"subprotocol {PROTOCOLS[0]}, {PROTOCOLS[1]} or {SPDY_TUNNEL}, or none (plain "
                      "SPDY is not supported)")
        if ready.protocol is None and request.headers.get(hdrs.SEC_WEBSOCKET_PROTOCOL, "").strip():
            raise bad("none of the offered WebSocket subprotocols is served; use "
                      f"{PROTOCOLS[0]}, {PROTOCOLS[1]} or {SPDY_TUNNEL}, or offer none")
        tunnel = ready.protocol == SPDY_TUNNEL
        if not ports and not tunnel:
            raise bad("at least one port must be specified: ?ports=PORT[,PORT...]")
        md = pod["metadata"]

        def start(port: int) -> pb.PortForwardStart:
            return pb.PortForwardStart(namespace=md.get("namespace", ""), pod=md["name"],
                                       uid=md.get("uid", ""), port=port)
        await ws.prepare(request)
        try:
            async with agent_channel(address, node, self._tls) as channel:
                agent = AgentPorts(channel, address)
                if tunnel:
                    await SpdySession(ws, agent, start).run()
                else:
                    await Relay(ws, agent).run([start(p) for p in ports])
        finally:
            await ws.close()
        return ws


class Relay:
    """One WebSocket's ports on the channel protocol."""

    def __init__(self, ws: web.WebSocketResponse, ports: AgentPorts) -> None:
        self.ws, self.ports = ws, ports

    async def run(self, starts: list[pb.PortForwardStart]) -> None:
        for i, start in enumerate(starts):
            await self.ws.send_bytes(port_header(2 * i, start.port))
            await self.ws.send_bytes(port_header(2 * i + 1, start.port))
        inputs: list[asyncio.Queue[bytes | None]] = [asyncio.Queue() for _ in starts]
        ports = asyncio.gather(*(self.ports.forward(s, inputs[i], self._sender(2 * i), self._sender(2 * i + 1))
                                 for i, s in enumerate(starts)))
        reader = asyncio.create_task(self._client(inputs, ports))
        try:
            await ports
        except asyncio.CancelledError:
            if handler_cancelled():
                raise  # this handler is cancelled (server shutdown), not just the ports
            # else the client went away and _client cancelled the ports
        finally:
            reader.cancel()
            ports.cancel()

    def _sender(self, channel: int) -> Send:
        async def send(data: bytes) -> None:
            with contextlib.suppress(ConnectionError):
                await self.ws.send_bytes(frame(channel, data))
        return send

    async def _client(self, inputs: list[asyncio.Queue[bytes | None]], ports: asyncio.Future[Any]) -> None:
        """Client bytes to each port's call; the client going away ends them all."""
        async for msg in self.ws:
            if (framed := client_frame(msg)) is None:
                continue
            channel, payload = framed
            if 0 <= channel < 2 * len(inputs) and channel % 2 == 0 and payload:
                inputs[channel // 2].put_nowait(payload)
        ports.cancel()
