"""pods/exec: Kubernetes' WebSocket remote-command protocol, relayed to the gRPC Exec of
the pod's node agent (as kube-apiserver relays exec to the kubelet).

This module owns the PodExecOptions query (`command` repeated, `container`, `stdin`,
`stdout`, `stderr`, `tty`), the checks kube makes before upgrading (400 BadRequest: no host
assigned, completed pod, container not running), the channel framing, and the relay.

Subprotocols `v5.channel.k8s.io` and `v4.channel.k8s.io`: every message's first byte is the
channel: 0 stdin, 1 stdout, 2 stderr, 3 error (a metav1.Status, the last message), 4 resize
(JSON {"Width","Height"}); v5 adds 255 close (`\\xff\\x00`: stdin ended). The server sends
binary messages; clients may send text ones too (the official Python client sends stdin as a
`str` whose first character is the channel), read as their UTF-8 bytes, as kube reads them.
kubectl 1.37 tries this first and falls back to SPDY, which is not served.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from dataclasses import dataclass
from typing import Any, AsyncIterator

import grpc
from aiohttp import WSMessage, WSMsgType, web

from pyctl_proto import node_pb2 as pb
from pyctl_proto import node_pb2_grpc

from . import errors
from .agentchannel import AgentTls, agent_channel
from .nodeproxy import AgentProxy, bad, choose_container, flag, handler_cancelled, node_agent, status_error
from .paths import Target

V5, V4 = "v5.channel.k8s.io", "v4.channel.k8s.io"
PROTOCOLS = (V5, V4)
STDIN, STDOUT, STDERR, ERROR, RESIZE, CLOSE = 0, 1, 2, 3, 4, 255
STARTED = ("pyctl-exec", "started")  # the agent's initial metadata once the command runs


# -- channel framing -------------------------------------------------------------------------

def frame(channel: int, data: bytes) -> bytes:
    return bytes([channel]) + data


def unframe(message: bytes) -> tuple[int, bytes]:
    """(channel, payload) of one client message; an empty message is (-1, b"")."""
    return (message[0], message[1:]) if message else (-1, b"")


def client_frame(msg: WSMessage) -> tuple[int, bytes] | None:
    """(channel, payload) of a client's binary or text message; None for any other message.
    A text message counts as its UTF-8 bytes, as kube's channel protocol reads it."""
    if msg.type == WSMsgType.BINARY:
        return unframe(msg.data)
    if msg.type == WSMsgType.TEXT:
        return unframe(msg.data.encode())
    return None


def exit_status(code: int, command: list[str]) -> dict[str, Any]:
    """What kube sends on the error channel when the command has ended."""
    if code == 0:
        return {"metadata": {}, "status": "Success"}
    return {"metadata": {}, "status": "Failure",
            "message": f"command terminated with non-zero exit code: error executing command "
                       f"[{' '.join(command)}], exit code {code}",
            "reason": "NonZeroExitCode",
            "details": {"causes": [{"reason": "ExitCode", "message": str(code)}]}}


def failure(err: errors.ApiError) -> dict[str, Any]:
    body = err.status()
    body.pop("kind", None), body.pop("apiVersion", None)
    return body


def size(payload: bytes) -> pb.TerminalSize | None:
    """A resize message's {"Width": w, "Height": h}; None when it is not one."""
    try:
        value = json.loads(payload)
        width, height = int(value["Width"]), int(value["Height"])
    except (ValueError, TypeError, KeyError):
        return None
    return pb.TerminalSize(width=width, height=height) if 0 < width < 65536 and 0 < height < 65536 else None


# -- the request -----------------------------------------------------------------------------

@dataclass(frozen=True)
class ExecOptions:
    command: list[str]
    container: str
    stdin: bool
    stdout: bool
    stderr: bool
    tty: bool


def exec_options(request: web.Request, pod: dict[str, Any]) -> ExecOptions:
    command = request.query.getall("command", [])
    if not command:
        raise bad("you must specify at least 1 command")
    opts = ExecOptions(command, choose_container(pod, request.query.get("container", "")),
                       flag(request, "stdin"), flag(request, "stdout"), flag(request, "stderr"),
                       flag(request, "tty"))
    if not (opts.stdin or opts.stdout or opts.stderr):
        raise bad("you must specify at least one of stdin, stdout, stderr")
    return opts


def check_runnable(pod: dict[str, Any], container: str) -> None:
    name = pod["metadata"]["name"]
    if not (pod.get("spec") or {}).get("nodeName"):
        raise bad(f"pod {name} does not have a host assigned")
    status = pod.get("status") or {}
    if status.get("phase") in ("Succeeded", "Failed"):
        raise bad(f"cannot exec into a container in a completed pod; current phase is {status['phase']}")
    cs = next((s for s in status.get("containerStatuses") or [] if s.get("name") == container), None)
    if cs is None or "running" not in (cs.get("state") or {}):
        raise bad(f'container not found ("{container}")')


class ExecProxy(AgentProxy):
    """The handler subresources.py calls for pods/exec (GET or POST)."""

    async def __call__(self, request: web.Request, target: Target) -> web.StreamResponse:
        objects, pod = self._pod(request, target)
        opts = exec_options(request, pod)
        check_runnable(pod, opts.container)
        node = pod["spec"]["nodeName"]
        address = node_agent(objects, node)
        ws = web.WebSocketResponse(protocols=PROTOCOLS)
        ready = ws.can_prepare(request)
        if not ready.ok:
            raise bad("Upgrade request required: pods/exec is served over a WebSocket with "
                       f"subprotocol {V5} or {V4} (SPDY is not supported)")
        if ready.protocol is None:
            raise bad(f"none of the offered WebSocket subprotocols is served; use {V5} or {V4}")
        await ws.prepare(request)
        start = pb.ExecStart(namespace=pod["metadata"].get("namespace", ""), pod=pod["metadata"]["name"],
                             container=opts.container, command=opts.command, stdin=opts.stdin, tty=opts.tty)
        try:
            await relay(ws, address, start, opts, node=node, tls=self._tls)
        finally:
            await ws.close()
        return ws


async def relay(ws: web.WebSocketResponse, address: str, start: pb.ExecStart, opts: ExecOptions, *,
                node: str = "", tls: AgentTls | None = None) -> None:
    """Client messages to the agent, the agent's output to the client, then one Status."""
    inputs: asyncio.Queue[pb.ExecInput | None] = asyncio.Queue()

    async def requests() -> AsyncIterator[pb.ExecInput]:
        yield pb.ExecInput(start=start)
        while (msg := await inputs.get()) is not None:
            yield msg

    async with agent_channel(address, node, tls) as channel:
        call = node_pb2_grpc.AgentStub(channel).Exec(requests())
        reader = asyncio.create_task(_client_input(ws, inputs, opts, call))
        try:
            if STARTED not in tuple(await call.initial_metadata() or ()):
                # The agent refused, or the command could not start: its status says why.
                raise status_error(await call.code(), await call.details(), address)
            async for out in call:
                kind = out.WhichOneof("msg")
                if kind == "stdout" and opts.stdout:
                    await ws.send_bytes(frame(STDOUT, out.stdout))
                elif kind == "stderr" and opts.stderr and not opts.tty:  # kubectl drops channel 2 with a TTY
                    await ws.send_bytes(frame(STDERR, out.stderr))
                elif kind == "exit_code":
                    await _send_status(ws, exit_status(out.exit_code, opts.command))
                    return
            raise errors.ApiError(502, "the node agent ended the exec stream without an exit code",
                                  "BadGateway")
        except grpc.aio.AioRpcError as exc:
            if not ws.closed:
                await _send_status(ws, failure(status_error(exc.code(), exc.details(), address)))
        except errors.ApiError as exc:
            await _send_status(ws, failure(exc))
        except ConnectionError:
            pass  # the client went away: cancelling the call (below) stops the command
        except asyncio.CancelledError:
            if handler_cancelled():
                raise  # this handler is cancelled (server shutdown), not just the call
            # else the client went away and _client_input cancelled the call
        finally:
            reader.cancel()
            call.cancel()


async def _send_status(ws: web.WebSocketResponse, status: dict[str, Any]) -> None:
    with contextlib.suppress(ConnectionError):
        await ws.send_bytes(frame(ERROR, json.dumps(status).encode()))


async def _client_input(ws: web.WebSocketResponse, inputs: asyncio.Queue[pb.ExecInput | None],
                        opts: ExecOptions, call: Any) -> None:
    """stdin, resizes and the end of stdin from the client; its going away ends the command."""
    async for msg in ws:
        if (framed := client_frame(msg)) is None:
            continue
        channel, payload = framed
        if channel == STDIN and opts.stdin and payload:
            inputs.put_nowait(pb.ExecInput(stdin=payload))
        elif channel == RESIZE and opts.tty and (resize := size(payload)) is not None:
            inputs.put_nowait(pb.ExecInput(resize=resize))
        elif channel == CLOSE and payload[:1] == bytes([STDIN]):
            inputs.put_nowait(pb.ExecInput(close_stdin=True))
    call.cancel()
