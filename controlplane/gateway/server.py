"""The gateway's lifecycle: its API client, pod index, writers, sessions and gRPC server."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any, Coroutine

import grpc

from pyctl_proto import node_pb2_grpc

from ..client import ApiClient
from .assignments import PodIndex
from .nodes import NodeWriter
from .session import Session
from .status import StatusWriter

log = logging.getLogger(__name__)

MAX_MESSAGE = 64 * 1024 * 1024  # a COMPLETE snapshot of a busy node can be large


@dataclass(frozen=True)
class GatewayConfig:
    heartbeat_period: float = 5.0
    """Seconds between agent heartbeats (sent to agents in Registered)."""
    lease_duration: int = 40
    """Lease.spec.leaseDurationSeconds written on node leases."""
    lease_renew_interval: float = 10.0
    """At most one lease write per node per this many seconds; keep it well under the grace period."""
    status_flush_interval: float = 0.1
    """Seconds between batched pod status writes."""


class Gateway:
    """Shared state of all sessions; also the NodeService servicer."""

    def __init__(self, api_url: str, config: GatewayConfig) -> None:
        self.config = config
        self.client = ApiClient(api_url, user_agent="pyctl-gateway")
        self.pods = PodIndex(self.client)
        self.nodes = NodeWriter(self.client, lease_duration=config.lease_duration,
                                renew_interval=config.lease_renew_interval)
        self.statuses = StatusWriter(self.client, interval=config.status_flush_interval)
        self.sessions: dict[str, Session] = {}
        self._tasks: set[asyncio.Task[Any]] = set()

    async def start(self) -> None:
        await self.pods.start()
        self.statuses.start()

    async def stop(self) -> None:
        for t in list(self._tasks):
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.statuses.stop()
        await self.nodes.stop()
        await self.pods.stop()
        await self.client.close()

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def adopt(self, session: Session) -> None:
        """A node has one session: a newer one (the agent reconnected) ends the older."""
        old = self.sessions.get(session.node)
        self.sessions[session.node] = session
        if old is not None and old is not session:
            log.info("node %s: a new session replaces %s", session.node, old.session_id[:8])
            self.spawn(old.context.abort(grpc.StatusCode.ABORTED, "superseded by a newer session"))

    def forget(self, session: Session) -> None:
        if self.sessions.get(session.node) is session:
            del self.sessions[session.node]

    # -- NodeService ---------------------------------------------------------------------------

    async def Session(self, request_iterator: Any, context: grpc.aio.ServicerContext) -> None:  # noqa: N802
        await Session(self, context).run()


@dataclass
class GatewayHandle:
    gateway: Gateway
    server: grpc.aio.Server
    port: int

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    async def stop(self, grace: float = 1.0) -> None:
        await self.server.stop(grace)
        await self.gateway.stop()


async def start_gateway(api_url: str, listen: str = "0.0.0.0:7443",
                        config: GatewayConfig | None = None) -> GatewayHandle:
    """Serve NodeService on `listen` (port 0: any free port; see handle.port)."""
    gateway = Gateway(api_url, config or GatewayConfig())
    await gateway.start()
    server = grpc.aio.server(options=[("grpc.max_receive_message_length", MAX_MESSAGE),
                                      ("grpc.max_send_message_length", MAX_MESSAGE),
                                      ("grpc.so_reuseport", 0)])
    node_pb2_grpc.add_NodeServiceServicer_to_server(gateway, server)
    port = server.add_insecure_port(listen)
    if port == 0:
        await gateway.stop()
        raise OSError(f"the gateway cannot listen on {listen}")
    await server.start()
    log.info("node gateway listening on %s (port %d)", listen, port)
    return GatewayHandle(gateway, server, port)
