"""The agent's own gRPC server: the Agent service the API server proxies to (as the
kube-apiserver proxies `pods/log` to the kubelet).

It owns reading a container's CRI "k8s-file" log (`<RFC3339Nano> <stream> <F|P> <text>`)
for the Logs RPC: tail, since, timestamps on or off, a byte limit, the previous run, and
follow (poll the file for growth until the container's run ends or the caller goes).
Exec runs a command in a running container through the runtime's host command (see
execio.py) and streams stdin, resizes, stdout/stderr and the exit code. PortForward relays
one TCP connection to a pod's port (portforward.py).

A joined node (with credentials) serves TLS with its node certificate, requires a client
certificate from the cluster CA, and answers only the API server's: CN
`kube-apiserver-kubelet-client` (kubeadm's name); anyone else gets PERMISSION_DENIED. A
renewed node certificate is served from the next handshake on. Without credentials the
server is insecure, as for hollow nodes in tests.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections import deque
from pathlib import Path
from typing import AsyncIterator, Iterable

import grpc

from pyctl_proto import node_pb2 as pb
from pyctl_proto import node_pb2_grpc

from .credentials import KUBELET_CLIENT, NodeCredentials
from .execio import ExecProcess, ExecStartError
from .portforward import serve as port_forward
from .runtime.base import ExecRefused, Runtime, RuntimePod

log = logging.getLogger(__name__)

FOLLOW_POLL = 0.1
"""Seconds between looks at a followed log's size and its container's state."""
CHUNK = 32 * 1024
READY = ("pyctl-logs", "streaming")
"""Initial metadata sent once a Logs request is valid, so the proxy can answer 200 at once."""
EXEC_STARTED = ("pyctl-exec", "started")
"""Initial metadata sent once an exec'd command runs; before it, the call can only fail."""


def parse_line(raw: bytes) -> tuple[bytes, bytes, bool] | None:
    """(timestamp, text, full line?) of one CRI log line; None for a malformed one."""
    parts = raw.rstrip(b"\n").split(b" ", 3)
    if len(parts) < 3:
        return None
    ts, _stream, tag = parts[:3]
    return ts, parts[3] if len(parts) == 4 else b"", tag != b"P"


def parse_time(ts: bytes) -> dt.datetime | None:
    """RFC 3339 with up to nanoseconds (Python keeps microseconds)."""
    text = ts.decode(errors="replace").replace("Z", "+00:00")
    if "." in text:
        head, _, rest = text.partition(".")
        digits = _leading_digits(rest)
        text = f"{head}.{digits[:6].ljust(6, '0')}{rest[len(digits):]}"
    try:
        return dt.datetime.fromisoformat(text)
    except ValueError:
        return None


def _leading_digits(text: str) -> str:
    return text[:len(text) - len(text.lstrip("0123456789"))]


def rfc3339_nano(ts: bytes) -> bytes:
    """A log timestamp as the kubelet prints it: UTC, `Z`, RFC3339Nano (no trailing zeros)."""
    text = ts.decode(errors="replace")
    digits = _leading_digits(text.partition(".")[2])[:9]
    when = parse_time(ts)
    if when is None:
        return ts
    base = when.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
    digits = digits.rstrip("0")
    return f"{base}{'.' + digits if digits else ''}Z".encode()


class LogFormatter:
    """Turns CRI lines into what `kubectl logs` prints, applying since, timestamps and the byte limit."""

    def __init__(self, req: pb.LogsRequest, now: dt.datetime | None = None) -> None:
        self.timestamps = req.timestamps
        self.since = None
        if req.since_seconds > 0:
            self.since = (now or dt.datetime.now(dt.timezone.utc)) - dt.timedelta(seconds=req.since_seconds)
        self.left = req.limit_bytes if req.limit_bytes > 0 else None

    @property
    def exhausted(self) -> bool:
        return self.left is not None and self.left <= 0

    def format(self, raw: bytes) -> bytes:
        parsed = parse_line(raw)
        if parsed is None:
            return b""
        ts, text, full = parsed
        if self.since is not None:
            when = parse_time(ts)
            if when is not None and when < self.since:
                return b""
        out = (rfc3339_nano(ts) + b" " if self.timestamps else b"") + text + (b"\n" if full else b"")
        if self.left is not None:
            out = out[:self.left]
            self.left -= len(out)
        return out


def _lines(data: bytes) -> tuple[list[bytes], bytes]:
    """Complete lines of `data` and the unfinished rest."""
    *whole, rest = data.split(b"\n")
    return [w + b"\n" for w in whole], rest


def tail(path: Path, n: int | None) -> tuple[list[bytes], int]:
    """The last `n` (None: all) complete lines of a file, and the offset after them."""
    with path.open("rb") as f:
        data = f.read()
    lines, rest = _lines(data)
    end = len(data) - len(rest)
    return (lines if n is None else list(deque(lines, maxlen=max(n, 0)))), end


def _read_from(path: Path, offset: int) -> bytes:
    with path.open("rb") as f:
        f.seek(offset)
        return f.read()


class AgentService(node_pb2_grpc.AgentServicer):
    def __init__(self, runtime: Runtime, secured: bool = False) -> None:
        self.runtime = runtime
        self.secured = secured

    async def _authorize(self, context: grpc.aio.ServicerContext) -> None:
        """On a secured server (TLS has verified the CA), only the API server's client cert may call."""
        if not self.secured:
            return
        cn = (context.auth_context().get("x509_common_name") or [b""])[0].decode(errors="replace")
        if cn != KUBELET_CLIENT:
            await context.abort(grpc.StatusCode.PERMISSION_DENIED,
                                f"user {cn!r} may not use the node agent's API (only {KUBELET_CLIENT})")

    async def _find(self, namespace: str, name: str) -> RuntimePod | None:
        return next((p for p in await self.runtime.list_pods()
                     if p.namespace == namespace and p.name == name), None)

    async def Logs(self, request: pb.LogsRequest,  # noqa: N802
                   context: grpc.aio.ServicerContext) -> AsyncIterator[pb.LogChunk]:
        await self._authorize(context)
        pod = await self._find(request.namespace, request.pod)
        if pod is None:
            await context.abort(grpc.StatusCode.NOT_FOUND,
                                f'pod "{request.pod}" is not running on this node')
        assert pod is not None
        c = pod.container(request.container)
        if c is None:
            await context.abort(grpc.StatusCode.NOT_FOUND,
                                f'container "{request.container}" not found in pod "{request.pod}"')
        assert c is not None
        path = self.runtime.log_path(pod.uid, c.name)
        if request.previous:
            path = previous_log(path)
        if path is None or not path.exists():
            what = "previous terminated container" if request.previous else "container"
            await context.abort(grpc.StatusCode.NOT_FOUND,
                                f'{what} "{c.name}" in pod "{request.pod}" has no log on this node')
        assert path is not None
        await context.send_initial_metadata((READY,))
        fmt = LogFormatter(request)
        count = request.tail_lines if request.HasField("tail_lines") else None
        lines, offset = await asyncio.to_thread(tail, path, count)
        for chunk in _batches(fmt.format(line) for line in lines):
            yield pb.LogChunk(data=chunk)
        if fmt.exhausted or not request.follow or request.previous:
            return
        async for chunk in self._follow(pod.uid, c.name, c.container_id, path, offset, fmt):
            yield pb.LogChunk(data=chunk)

    async def _follow(self, uid: str, name: str, container_id: str, path: Path, offset: int,
                      fmt: LogFormatter) -> AsyncIterator[bytes]:
        """New complete lines as the file grows, until this run of the container has ended."""
        pending = b""
        while not fmt.exhausted:
            ended = not await self._running(uid, name, container_id)  # look before the last read
            try:
                data = await asyncio.to_thread(_read_from, path, offset)
            except FileNotFoundError:
                return  # the pod was removed meanwhile
            offset += len(data)
            lines, pending = _lines(pending + data)
            for chunk in _batches(fmt.format(line) for line in lines):
                yield chunk
            if ended:
                return
            await asyncio.sleep(FOLLOW_POLL)

    async def _running(self, uid: str, name: str, container_id: str) -> bool:
        now = await self.runtime.pod_status(uid)
        c = now.container(name) if now else None
        return c is not None and c.container_id == container_id and c.state == "running"

    async def Exec(self, request_iterator: AsyncIterator[pb.ExecInput],  # noqa: N802
                   context: grpc.aio.ServicerContext) -> None:
        await self._authorize(context)
        first = await context.read()
        if first is grpc.aio.EOF or first.WhichOneof("msg") != "start":
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "the first ExecInput must be an ExecStart")
        start = first.start
        if not start.command:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "you must specify at least 1 command")
        pod = await self._find(start.namespace, start.pod)
        if pod is None:
            await context.abort(grpc.StatusCode.NOT_FOUND, f'pod "{start.pod}" is not running on this node')
        assert pod is not None
        c = pod.container(start.container)
        if c is None or c.state != "running":
            await context.abort(grpc.StatusCode.NOT_FOUND, f'container not found ("{start.container}")')
        try:
            cmd = await self.runtime.exec_command(pod.uid, start.container, list(start.command), start.tty)
            proc = await ExecProcess.start(cmd, tty=start.tty, stdin=start.stdin)
        except ExecRefused as exc:
            await context.abort(grpc.StatusCode.FAILED_PRECONDITION, str(exc))
        except ExecStartError as exc:
            await context.abort(grpc.StatusCode.UNKNOWN, f"error executing command in container: {exc}")
        inputs = asyncio.create_task(_feed(context, proc))
        try:
            await context.send_initial_metadata((EXEC_STARTED,))
            async for stream, data in proc.output():
                out = pb.ExecOutput(stdout=data) if stream == "stdout" else pb.ExecOutput(stderr=data)
                await context.write(out)
            await context.write(pb.ExecOutput(exit_code=await proc.wait()))
        finally:
            inputs.cancel()
            await proc.kill()

    async def PortForward(self, request_iterator: AsyncIterator[pb.PortForwardInput],  # noqa: N802
                          context: grpc.aio.ServicerContext) -> None:
        await self._authorize(context)
        await port_forward(self.runtime, self._find, context)


async def _feed(context: grpc.aio.ServicerContext, proc: ExecProcess) -> None:
    """The caller's stdin, resizes and end of stdin, until the caller stops sending."""
    while (msg := await context.read()) is not grpc.aio.EOF:
        kind = msg.WhichOneof("msg")
        if kind == "stdin":
            await proc.write(msg.stdin)
        elif kind == "resize":
            proc.resize(msg.resize.width, msg.resize.height)
        elif kind == "close_stdin":
            await proc.close_stdin()


def previous_log(current: Path | None) -> Path | None:
    """The previous run's log beside the current one: runtimes name a run's log
    `<restart count>.log` (see Runtime.log_path)."""
    if current is None or not current.stem.isdigit() or int(current.stem) == 0:
        return None
    return current.with_name(f"{int(current.stem) - 1}{current.suffix}")


def _batches(parts: Iterable[bytes]) -> Iterable[bytes]:
    buf = bytearray()
    for part in parts:
        buf += part
        if len(buf) >= CHUNK:
            yield bytes(buf)
            buf.clear()
    if buf:
        yield bytes(buf)


class AgentServer:
    """The gRPC server on `listen` (HOST:PORT; port 0 picks one); `port` is the bound port."""

    def __init__(self, runtime: Runtime, listen: str, credentials: NodeCredentials | None = None) -> None:
        self.listen = listen
        self.port = 0
        self.credentials = credentials
        self._server = grpc.aio.server(options=[("grpc.so_reuseport", 0)])
        node_pb2_grpc.add_AgentServicer_to_server(AgentService(runtime, credentials is not None), self._server)

    def _tls(self, credentials: NodeCredentials) -> grpc.ServerCredentials:
        served = [-1]

        def config() -> grpc.ServerCertificateConfiguration:
            cert, key, ca = credentials.load()
            return grpc.ssl_server_certificate_configuration([(key, cert)], root_certificates=ca)

        def fetch() -> grpc.ServerCertificateConfiguration | None:
            # Called by gRPC before each handshake: None keeps the current certificate.
            if served[0] == credentials.generation:
                return None
            served[0] = credentials.generation
            return config()
        return grpc.dynamic_ssl_server_credentials(config(), fetch, require_client_authentication=True)

    async def start(self) -> int:
        self.port = (self._server.add_insecure_port(self.listen) if self.credentials is None
                     else self._server.add_secure_port(self.listen, self._tls(self.credentials)))
        if not self.port:
            raise OSError(f"cannot listen on {self.listen}")
        await self._server.start()
        log.info("agent API listening on %s (port %d)", self.listen, self.port)
        return self.port

    async def stop(self, grace: float = 1.0) -> None:
        await self._server.stop(grace)
