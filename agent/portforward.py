"""The agent's PortForward RPC: one TCP connection from the agent to a port of one of its
pods, relayed as a bidirectional gRPC byte stream (the kubelet's port-forward, which the
API server's `pods/portforward` reaches through this).

The agent dials the pod's IP from its own network namespace: its pods sit on its CNI
bridge. Hollow pods have simulated IPs that nothing answers on, so the call is refused
instead of dialling an address that belongs to no one. A connection that cannot be made
is the call's status; once connected, the agent sends CONNECTED as initial metadata.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from typing import Awaitable, Callable

import grpc

from pyctl_proto import node_pb2 as pb

from .runtime.base import Runtime, RuntimePod

CONNECTED = ("pyctl-portforward", "connected")
"""Initial metadata sent once the pod's port accepted the connection."""
CONNECT_TIMEOUT = 10.0
"""Seconds a dial to the pod may take (a local bridge: a healthy dial takes milliseconds)."""
CHUNK = 32 * 1024

Finder = Callable[[str, str], Awaitable["RuntimePod | None"]]


async def serve(runtime: Runtime, find: Finder, context: grpc.aio.ServicerContext) -> None:
    first = await context.read()
    if first is grpc.aio.EOF or first.WhichOneof("msg") != "start":
        await context.abort(grpc.StatusCode.INVALID_ARGUMENT,
                            "the first PortForwardInput must be a PortForwardStart")
    start = first.start
    if not 0 < start.port < 65536:
        await context.abort(grpc.StatusCode.INVALID_ARGUMENT,
                            f"invalid port {start.port}: must be between 1 and 65535")
    pod = await find(start.namespace, start.pod)
    if pod is None or (start.uid and pod.uid != start.uid):
        await context.abort(grpc.StatusCode.NOT_FOUND, f'pod "{start.pod}" is not running on this node')
    assert pod is not None
    where = f"port {start.port} to pod {pod.name}, uid {pod.uid}"
    if runtime.name == "hollow":  # simulated pods: nothing listens, and the IP is nobody's
        await context.abort(grpc.StatusCode.FAILED_PRECONDITION,
                            f"error forwarding {where}: the node runs hollow (simulated) pods, "
                            "nothing listens on their ports")
    if not pod.pod_ip:
        await context.abort(grpc.StatusCode.FAILED_PRECONDITION,
                            f"error forwarding {where}: the pod has no IP address")
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(pod.pod_ip, start.port),
                                                CONNECT_TIMEOUT)
    except (OSError, asyncio.TimeoutError) as exc:
        # asyncio's own strerror names the address again; the errno's text is the reason.
        reason = os.strerror(exc.errno) if isinstance(exc, OSError) and exc.errno else "timed out"
        await context.abort(grpc.StatusCode.UNAVAILABLE,
                            f"error forwarding {where}: dial tcp {pod.pod_ip}:{start.port}: "
                            f"connect: {reason.lower()}")
    await context.send_initial_metadata((CONNECTED,))
    inbound = asyncio.create_task(_to_pod(context, writer))
    try:
        while data := await reader.read(CHUNK):
            await context.write(pb.PortForwardOutput(data=data))
    finally:
        inbound.cancel()
        writer.close()
        with contextlib.suppress(OSError, asyncio.CancelledError):
            await writer.wait_closed()


async def _to_pod(context: grpc.aio.ServicerContext, writer: asyncio.StreamWriter) -> None:
    """The caller's bytes to the pod; its close_write (or end) half-closes the connection."""
    with contextlib.suppress(OSError):
        while (msg := await context.read()) is not grpc.aio.EOF:
            if msg.WhichOneof("msg") == "data":
                writer.write(msg.data)
                await writer.drain()
            elif msg.WhichOneof("msg") == "close_write":
                break
        if writer.can_write_eof():
            writer.write_eof()
