"""Connections to a pod's ports through its node agent: one gRPC PortForward call each.

Both port-forward protocols (portforward.py's channels and portforward_spdy.py's SPDY tunnel)
relay through these."""

from __future__ import annotations

import asyncio
from typing import AsyncIterator, Awaitable, Callable

import grpc

from pyctl_proto import node_pb2 as pb
from pyctl_proto import node_pb2_grpc

CONNECTED = ("pyctl-portforward", "connected")  # the agent's initial metadata once it has dialled
Send = Callable[[bytes], Awaitable[None]]


class AgentPorts:
    """Connections to the pod's ports, each an agent PortForward call, for either protocol."""

    def __init__(self, channel: grpc.aio.Channel, address: str) -> None:
        self.stub, self.address = node_pb2_grpc.AgentStub(channel), address

    async def forward(self, start: pb.PortForwardStart, inputs: asyncio.Queue[bytes | None],
                      send: Send, fail: Send) -> None:
        """Client bytes from `inputs` (None: the client has no more) to the pod, the pod's bytes
        to `send`, until the pod closes; if the connection cannot be made, its reason to `fail`."""
        async def requests() -> AsyncIterator[pb.PortForwardInput]:
            yield pb.PortForwardInput(start=start)
            while (data := await inputs.get()) is not None:
                yield pb.PortForwardInput(data=data)
            yield pb.PortForwardInput(close_write=True)

        call = self.stub.PortForward(requests())
        try:
            if CONNECTED not in tuple(await call.initial_metadata() or ()):
                await fail(self._reason(await call.code(), await call.details()).encode())
                return
            async for out in call:
                await send(out.data)
        except grpc.aio.AioRpcError as exc:
            await fail(self._reason(exc.code(), exc.details()).encode())
        except ConnectionError:
            pass  # the client went away
        finally:
            inputs.put_nowait(None)  # ends the request iterator, which gRPC would leave waiting
            call.cancel()

    def _reason(self, code: grpc.StatusCode, details: str | None) -> str:
        details = details or "the node agent refused the connection"
        if code == grpc.StatusCode.UNAVAILABLE and "error forwarding" not in details:
            return f"cannot reach the node agent at {self.address}: {details}"
        return details
