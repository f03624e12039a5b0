"""pods/portforward as kubectl 1.37 speaks it: SPDY/3.1 streams tunnelled in a WebSocket
(subprotocol `SPDY/3.1+portforward.k8s.io`), relayed to the agent like the channel protocol.

This module owns the session: the client opens two streams per local connection, both
with headers `port` and `requestid`, one `streamtype: error` (which it half-closes at
once) and one `streamtype: data`. Every stream gets a SYN_REPLY; once a request's pair is
complete its connection is made. The pod's bytes go out on the data stream; a failure's
text goes on the error stream; both are then closed (FIN), as the kubelet does.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from typing import Callable

from aiohttp import WSMsgType, web

from pyctl_proto import node_pb2 as pb

from . import spdy
from .agentports import AgentPorts


log = logging.getLogger(__name__)


@dataclass
class Pair:
    """One local connection of the client's: its two streams and the port they name."""
    request: str
    port: str = ""
    error_id: int = 0
    data_id: int = 0
    inputs: asyncio.Queue[bytes | None] = field(default_factory=asyncio.Queue)
    task: asyncio.Task[None] | None = None


class SpdySession:
    def __init__(self, ws: web.WebSocketResponse, agent: AgentPorts,
                 start: Callable[[int], pb.PortForwardStart]) -> None:
        self.ws, self.agent, self.start = ws, agent, start
        self.writer = spdy.Writer()
        self.pairs: dict[str, Pair] = {}   # by requestid
        self.streams: dict[int, Pair] = {}  # by stream id
        self.last_id = 0

    async def run(self) -> None:
        reader = spdy.Reader()
        try:
            async for msg in self.ws:
                if msg.type != WSMsgType.BINARY:
                    continue
                for frame in reader.feed(msg.data):
                    if not await self._handle(frame):
                        return
        except spdy.ProtocolError as exc:
            log.warning("port-forward session ended: %s", exc)  # the client sees the GOAWAY
        finally:
            for pair in self.pairs.values():
                if pair.task is not None:
                    pair.task.cancel()
            with contextlib.suppress(Exception):
                await self._send(self.writer.goaway(self.last_id))

    async def _handle(self, frame: spdy.Frame) -> bool:
        """Act on one frame; False once the client has said goodbye."""
        if isinstance(frame, spdy.SynStream):
            self.last_id = max(self.last_id, frame.stream_id)
            await self._send(self.writer.syn_reply(frame.stream_id))
            self._opened(frame)
        elif isinstance(frame, spdy.Data):
            pair = self.streams.get(frame.stream_id)
            if pair is not None and frame.stream_id == pair.data_id:
                if frame.data:
                    pair.inputs.put_nowait(frame.data)
                if frame.fin:
                    pair.inputs.put_nowait(None)  # the local side has no more to send
        elif frame.kind == spdy.RST_STREAM:
            pair = self.streams.get(frame.ident)
            if pair is not None and pair.task is not None:
                pair.task.cancel()
        elif frame.kind == spdy.PING:
            await self._send(self.writer.ping(frame.ident))
        elif frame.kind == spdy.GOAWAY:
            return False
        return True

    def _opened(self, syn: spdy.SynStream) -> None:
        request = syn.headers.get("requestid", "")
        pair = self.pairs.setdefault(request, Pair(request))
        pair.port = syn.headers.get("port", "")
        kind = syn.headers.get("streamtype", "")
        if kind == "error":
            pair.error_id = syn.stream_id
        elif kind == "data":
            pair.data_id = syn.stream_id
        else:
            return
        self.streams[syn.stream_id] = pair
        if pair.error_id and pair.data_id and pair.task is None:
            pair.task = asyncio.create_task(self._forward(pair))

    async def _forward(self, pair: Pair) -> None:
        async def send(data: bytes) -> None:
            for f in self.writer.data(pair.data_id, data):
                await self._send(f)

        async def fail(text: bytes) -> None:
            for f in self.writer.data(pair.error_id, text):
                await self._send(f)
        try:
            if not pair.port.isdigit() or not 0 < int(pair.port) < 65536:
                await fail(f"invalid port {pair.port!r}: must be an integer between 1 and 65535".encode())
            else:
                await self.agent.forward(self.start(int(pair.port)), pair.inputs, send, fail)
        finally:
            with contextlib.suppress(ConnectionError):  # the kubelet's order: error, then data
                for f in self.writer.data(pair.error_id, b"", fin=True) + self.writer.data(pair.data_id, b"", fin=True):
                    await self._send(f)
            self.streams.pop(pair.error_id, None), self.streams.pop(pair.data_id, None)
            self.pairs.pop(pair.request, None)

    async def _send(self, data: bytes) -> None:
        if not self.ws.closed:
            await self.ws.send_bytes(data)
