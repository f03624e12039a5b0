"""What the gateway's sessions share: its settings, API client, pod index, node networks,
Service and Ingress directories, NetworkPolicy table, batched status and event writers, the usage
forwarder, and the one session of each node."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any, Coroutine, Protocol

import grpc

from ..client import ApiClient
from . import metrics
from .assignments import PodIndex
from .events import EventWriter
from .ingresses import IngressDirectory
from .nodes import NodeWriter
from .policies import PolicyDirectory
from .routes import NodeNetworks
from .security import GatewayTls
from .services import ServiceDirectory
from .status import StatusWriter
from .usage import UsageForwarder

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class GatewayConfig:
    heartbeat_period: float = 5.0
    """Seconds between agent heartbeats (sent to agents in Registered)."""
    lease_duration: int = 40
    """Lease.spec.leaseDurationSeconds written on node leases."""
    lease_renew_interval: float = 10.0
    """At most one lease write per node per this many seconds; keep it well under the grace period."""
    status_flush_interval: float = 0.1
    """Pod statuses are written as soon as they arrive (batched while a write is under way);
    this paces only the retry of a write that failed for a moment."""
    event_flush_interval: float = 0.5
    """Seconds between batched writes of the Events agents report."""
    metrics_period: float = 15.0
    """Seconds between agents' resource usage reports (metrics-server's resolution); 0: none."""
    metrics_flush_interval: float = 1.0
    """Seconds between batches of usage reports sent to the API server."""
    cluster_cidr: str = "10.244.0.0/16"
    """The pod network: agents get routes to the other nodes' podCIDRs inside it."""
    service_cidr: str = "10.96.0.0/16"
    """Where ClusterIPs live: agents route it to their pod bridge and proxy it (ServiceTable)."""
    tls: GatewayTls | None = None
    """With it, mutual TLS on the node port and Join on the join port (see security.py);
    without, one insecure port and no Join (hollow-node tests, trusted networks)."""
    join_listen: str = "0.0.0.0:7444"
    """Where a secured gateway serves Join (TLS, no client certificate)."""


class Attached(Protocol):
    """A node's session, as the hub keeps it (session.Session)."""

    node: str
    session_id: str
    context: grpc.aio.ServicerContext


class Hub:
    """What every session shares: the API client, the pod index, node networks, Services,
    the batched writers, and which session each node has."""

    def __init__(self, api_url: str, config: GatewayConfig) -> None:
        self.config = config
        self.client = ApiClient(api_url, user_agent="pyctl-gateway")
        self.pods = PodIndex(self.client)
        self.nodes = NodeWriter(self.client, lease_duration=config.lease_duration,
                                renew_interval=config.lease_renew_interval)
        self.statuses = StatusWriter(self.client, interval=config.status_flush_interval)
        self.events = EventWriter(self.client, interval=config.event_flush_interval)
        self.usage = UsageForwarder(self.client, interval=config.metrics_flush_interval)
        self.networks = NodeNetworks(self.client, config.cluster_cidr)
        self.services = ServiceDirectory(self.client, config.service_cidr)
        self.ingresses = IngressDirectory(self.client)
        self.policies = PolicyDirectory(self.client, self.pods.informer)
        self.sessions: dict[str, Attached] = {}
        metrics.watch_sessions(self.sessions)
        self._tasks: set[asyncio.Task[Any]] = set()

    async def start(self) -> None:
        await self.pods.start()
        await self.networks.start()
        await self.services.start()
        await self.ingresses.start()
        await self.policies.start()
        self.statuses.start()
        self.events.start()
        self.usage.start()

    async def stop(self) -> None:
        for t in list(self._tasks):
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.statuses.stop()
        await self.events.stop()
        await self.usage.stop()
        await self.nodes.stop()
        await self.networks.stop()
        await self.services.stop()
        await self.ingresses.stop()
        await self.policies.stop()
        await self.pods.stop()
        await self.client.close()

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def adopt(self, session: Attached) -> None:
        """A node has one session: a newer one (the agent reconnected) ends the older."""
        old = self.sessions.get(session.node)
        self.sessions[session.node] = session
        if old is not None and old is not session:
            log.info("node %s: a new session replaces %s", session.node, old.session_id[:8])
            self.spawn(old.context.abort(grpc.StatusCode.ABORTED, "superseded by a newer session"))

    def forget(self, session: Attached) -> None:
        if self.sessions.get(session.node) is session:
            del self.sessions[session.node]
