"""The gateway's lifecycle: its API client, pod index, node networks, writers, sessions and gRPC server."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any, Coroutine

import grpc

from pyctl_proto import node_pb2_grpc

from ..client import ApiClient
from .assignments import PodIndex
from .events import EventWriter
from .nodes import NodeWriter
from .routes import NodeNetworks
from .security import GatewayTls, caller_node, join, renew
from .services import ServiceDirectory
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
    event_flush_interval: float = 0.5
    """Seconds between batched writes of the Events agents report."""
    cluster_cidr: str = "10.244.0.0/16"
    """The pod network: agents get routes to the other nodes' podCIDRs inside it."""
    service_cidr: str = "10.96.0.0/16"
    """Where ClusterIPs live: agents route it to their pod bridge and proxy it (ServiceTable)."""
    tls: GatewayTls | None = None
    """With it, mutual TLS on the node port and Join on the join port (see security.py);
    without, one insecure port and no Join (hollow-node tests, trusted networks)."""
    join_listen: str = "0.0.0.0:7444"
    """Where a secured gateway serves Join (TLS, no client certificate)."""


class Gateway:
    """Shared state of all sessions; also the NodeService servicer."""

    def __init__(self, api_url: str, config: GatewayConfig) -> None:
        self.config = config
        self.client = ApiClient(api_url, user_agent="pyctl-gateway")
        self.pods = PodIndex(self.client)
        self.nodes = NodeWriter(self.client, lease_duration=config.lease_duration,
                                renew_interval=config.lease_renew_interval)
        self.statuses = StatusWriter(self.client, interval=config.status_flush_interval)
        self.events = EventWriter(self.client, interval=config.event_flush_interval)
        self.networks = NodeNetworks(self.client, config.cluster_cidr)
        self.services = ServiceDirectory(self.client, config.service_cidr)
        self.sessions: dict[str, Session] = {}
        self._tasks: set[asyncio.Task[Any]] = set()

    async def start(self) -> None:
        await self.pods.start()
        await self.networks.start()
        await self.services.start()
        self.statuses.start()
        self.events.start()

    async def stop(self) -> None:
        for t in list(self._tasks):
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.statuses.stop()
        await self.events.stop()
        await self.nodes.stop()
        await self.networks.stop()
        await self.services.stop()
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
        tls = self.config.tls
        identity = await caller_node(context, tls) if tls is not None else ""
        await Session(self, context, identity=identity).run()

    async def Join(self, request: Any, context: grpc.aio.ServicerContext) -> Any:  # noqa: N802
        if self.config.tls is None:
            await context.abort(grpc.StatusCode.UNIMPLEMENTED, "this gateway is insecure: nodes need no join")
        assert self.config.tls is not None
        return await join(request, context, self.config.tls, self.client)

    async def Renew(self, request: Any, context: grpc.aio.ServicerContext) -> Any:  # noqa: N802
        if self.config.tls is None:
            await context.abort(grpc.StatusCode.UNIMPLEMENTED, "this gateway is insecure: no certificates")
        assert self.config.tls is not None
        return await renew(request, context, self.config.tls)


@dataclass
class GatewayHandle:
    gateway: Gateway
    server: grpc.aio.Server
    port: int
    join_port: int = 0
    """The bound join port of a secured gateway (0: none)."""

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def join_address(self) -> str:
        return f"127.0.0.1:{self.join_port}"

    async def stop(self, grace: float = 1.0) -> None:
        await self.server.stop(grace)
        await self.gateway.stop()


async def start_gateway(api_url: str, listen: str = "0.0.0.0:7443",
                        config: GatewayConfig | None = None) -> GatewayHandle:
    """Serve NodeService on `listen` (port 0: any free port; see handle.port), and with
    `config.tls` Join on `config.join_listen` (handle.join_port)."""
    config = config or GatewayConfig()
    gateway = Gateway(api_url, config)
    await gateway.start()
    server = grpc.aio.server(options=[("grpc.max_receive_message_length", MAX_MESSAGE),
                                      ("grpc.max_send_message_length", MAX_MESSAGE),
                                      ("grpc.so_reuseport", 0)])
    node_pb2_grpc.add_NodeServiceServicer_to_server(gateway, server)
    tls = config.tls
    try:
        port = server.add_insecure_port(listen) if tls is None else server.add_secure_port(
            listen, tls.node_credentials())
        join_port = 0 if tls is None else server.add_secure_port(config.join_listen, tls.join_credentials())
    except RuntimeError:  # some gRPC versions raise where others return 0
        port = join_port = 0
    if port == 0 or (tls is not None and join_port == 0):
        await gateway.stop()
        raise OSError(f"the gateway cannot listen on {listen}"
                      + (f" and {config.join_listen}" if tls is not None else ""))
    await server.start()
    if tls is None:
        log.info("node gateway listening on %s (port %d), insecure", listen, port)
    else:
        log.info("node gateway listening on %s (port %d, mutual TLS), join on %s (port %d)",
                 listen, port, config.join_listen, join_port)
    return GatewayHandle(gateway, server, port, join_port)
