"""Agent: one node's runtime, pod manager, session and routes, started and stopped together.

The pod network comes from the control plane (see session.py): `on_pod_cidr(pod_cidr,
cluster_cidr)` is called when this node's podCIDR is first known or changes (the runc
runtime configures CNI with it), and with `routes` set the other nodes' podCIDRs are routed
via their node IPs in this network namespace. Every ServiceTable goes to the pods' service env
vars (podconfig), to the service proxy and the cluster DNS when there are (NAT rules in this
namespace, names on the pod bridge), and its service CIDR to `on_service_cidr` (pods route it
via the bridge). With an ingress proxy, the node says so when it registers (a Node label) and
every IngressTable goes to it. Every PolicyTable goes to the NetworkPolicy enforcer when there is one.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
from typing import TYPE_CHECKING, Callable

from pyctl_proto import node_pb2 as pb

from . import metrics
from .credentials import NodeCredentials, keep_renewed
from .ingress import PROXY_NODE_LABEL
from .network.dns import DnsServer
from .network.netpol import PolicyEnforcer
from .network.routes import HostRoutes, RouteSyncer
from .network.serviceproxy import ServiceProxy
from .nodeinfo import NodeRegistration
from .podtokens import GatewayTokens, PodTokens
from .pods import PodTimings, PodManager
from .runtime.base import Runtime
from .server import AgentServer
from .session import AgentSession, SessionConfig
from .volumes.local import LocalVolumes
from .volumes.hollow import HollowVolumes
from .usage import UsageReporter

if TYPE_CHECKING:  # built by main only on proxy nodes: its TLS code (cryptography) stays unloaded
    from .ingress.proxy import IngressProxy

log = logging.getLogger(__name__)


class Agent:
    def __init__(self, server: str, registration: NodeRegistration, runtime: Runtime, *,
                 host_ip: str, pod_timings: PodTimings | None = None,
                 session_config: SessionConfig | None = None, listen: str | None = None,
                 pod_cidr: str = "", learn_pod_cidr: bool = False,
                 on_pod_cidr: Callable[[str, str], None] | None = None,
                 routes: HostRoutes | None = None, credentials: NodeCredentials | None = None,
                 service_proxy: ServiceProxy | None = None,
                 on_service_cidr: Callable[[str], None] | None = None,
                 dns: DnsServer | None = None,
                 local_volumes: LocalVolumes | HollowVolumes | None = None,
                 ingress: IngressProxy | None = None,
                 network_policy: PolicyEnforcer | None = None, metrics_listen: str = "") -> None:
        """`listen`: HOST:PORT of the agent's own gRPC API (logs, exec) that the API server
        proxies to; its bound port is reported in the registration. None: not served.
        `pod_cidr`: this node's own (recorded on its Node); else with `learn_pod_cidr` no pod
        starts before the control plane has given one. `routes`: where to program host-gw
        routes (None: nowhere, as for hollow nodes). `credentials`: a joined node's certificate:
        mutual TLS to the gateway and on the agent's own server, renewed before it expires.
        `service_proxy`: programs ClusterIP NAT in this namespace (None: no proxy, hollow nodes).
        `dns`: the node's cluster DNS responder, served while the agent runs. `local_volumes`: the
        built-in provisioner's volumes on this node (None: it keeps none). `ingress`: the node's
        ingress proxy (None: this node serves no Ingress). `network_policy`: filters this node's
        pods' traffic by NetworkPolicy (None: nothing). `metrics_listen`: HOST:PORT of its Prometheus
        /metrics ("": not served)."""
        runtime = metrics.instrumented(runtime)  # kubelet_runtime_operations_*
        self.node_name = registration.node_name
        self.runtime = runtime
        self.registration = registration
        self.pods = PodManager(runtime, host_ip, pod_timings)
        self.local_volumes = local_volumes
        self.pods.claims.local = local_volumes
        if local_volumes is not None:
            registration.local_storage = (str(local_volumes.root), local_volumes.capacity)
        self._volumes_wanted: pb.NodeVolumes | None = None
        self._volumes_task: asyncio.Task[None] | None = None
        # Projected ServiceAccount tokens: asked of the gateway, with the node's own identity.
        self._tokens = GatewayTokens(server, registration.node_name, credentials)
        self.pods.configs.tokens = PodTokens(self._tokens)
        self.pod_cidr = pod_cidr
        self.on_pod_cidr = on_pod_cidr
        self.routes = RouteSyncer(routes, host_ip) if routes is not None else None
        self.service_proxy = service_proxy
        if service_proxy is not None and not service_proxy.node:
            service_proxy.node = registration.node_name  # its endpoints are the local ones
        self.on_service_cidr = on_service_cidr
        self.dns = dns
        self.ingress = ingress
        registration.labels[PROXY_NODE_LABEL] = "true" if ingress is not None else "false"
        self.network_policy = network_policy
        self.session = AgentSession(server, registration, self.pods, session_config, pod_cidr=pod_cidr,
                                    needs_pod_cidr=learn_pod_cidr, on_network=self._network,
                                    on_services=self._services, on_volumes=self._volumes,
                                    on_ingress=ingress.update if ingress is not None else None,
                                    on_policies=network_policy.update if network_policy is not None else None,
                                    credentials=credentials, usage=UsageReporter(runtime))
        self.server = AgentServer(runtime, listen, credentials) if listen is not None else None
        self.credentials = credentials
        self.metrics_listen = metrics_listen
        self._metrics: metrics.Endpoint | None = None
        self._task: asyncio.Task[None] | None = None

    def start(self) -> "Agent":
        self._task = asyncio.create_task(self._run(), name=f"agent-{self.node_name}")
        return self

    def _network(self, m: pb.NodeRoutes) -> None:
        own = self.session.pod_cidr or m.pod_cidr  # a --pod-cidr is fixed; else the Node's counts
        if own != self.pod_cidr:
            if self.pod_cidr:
                log.warning("node %s: podCIDR changed from %s to %s; new pods use the new one",
                            self.node_name, self.pod_cidr, own)
            self.pod_cidr = own
            if self.on_pod_cidr is not None:
                self.on_pod_cidr(own, m.cluster_cidr)
        if self.routes is not None:
            self.routes.update(m.cluster_cidr, own, [(r.pod_cidr, r.node_ip) for r in m.routes])
        if self.service_proxy is not None and own:  # proxied traffic leaves from the bridge address
            self.service_proxy.network(str(ipaddress.ip_network(own)[1]), own, m.cluster_cidr)

    def _services(self, m: pb.ServiceTable) -> None:
        self.pods.configs.services = m
        if self.on_service_cidr is not None and m.service_cidr:
            self.on_service_cidr(m.service_cidr)
        if self.service_proxy is not None:
            self.service_proxy.update(m)
        if self.dns is not None:
            self.dns.update(m)

    def _volumes(self, m: pb.NodeVolumes) -> None:
        """Make and delete local volumes as asked, one pass at a time (the newest list wins)."""
        if self.local_volumes is None:
            return
        self._volumes_wanted = m
        if self._volumes_task is None or self._volumes_task.done():
            self._volumes_task = asyncio.create_task(self._reconcile_volumes(), name=f"volumes-{self.node_name}")

    async def _reconcile_volumes(self) -> None:
        assert self.local_volumes is not None
        while self._volumes_wanted is not None:
            wanted, self._volumes_wanted = self._volumes_wanted, None
            try:
                report = await asyncio.to_thread(self.local_volumes.reconcile, wanted, self.pods.claims.user_of)
            except Exception:  # a bug must not end the agent: the next NodeVolumes tries again
                log.exception("node %s: local volumes", self.node_name)
                continue
            self.session.queue_message(pb.AgentMessage(volumes=report))
            self.pods.volumes_changed()

    async def _run(self) -> None:
        if self.metrics_listen:
            self._metrics = await metrics.serve(self.metrics_listen)
        if self.local_volumes is not None:
            # Before any pod starts: volumes unmounted by a reboot are mounted again.
            await asyncio.to_thread(self.local_volumes.restore)
        if self.server is not None:
            # Before the session registers, so the Node carries the port the agent serves.
            self.registration.agent_port = await self.server.start()
        if self.dns is not None:
            try:
                await self.dns.start()
            except OSError as exc:  # pods then get no answers, but everything else works
                log.warning("node %s: cluster DNS not served on %s: %s", self.node_name, self.dns.address, exc)
        loops = [self.session.run(), self.pods.configs.refresh_tokens()]
        if self.routes is not None:
            loops.append(self.routes.run())
        if self.service_proxy is not None:
            loops.append(self.service_proxy.run())
        if self.ingress is not None:
            loops.append(self.ingress.run())
        if self.network_policy is not None:
            loops.append(self.network_policy.run())
        if self.credentials is not None:
            loops.append(keep_renewed(self.session.server, self.credentials, self.session.reconnect))
        await asyncio.gather(*loops)

    async def run(self) -> None:
        """Run until cancelled."""
        self.start()
        assert self._task is not None
        try:
            await self._task
        finally:
            await self.stop()

    async def stop(self) -> None:
        """Leave the control plane and stop the sync loops; pods stay with the runtime."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self.service_proxy is not None:
            await self.service_proxy.cleanup()  # no ClusterIP rules outlive the agent
        if self.ingress is not None:
            await self.ingress.stop()  # nor its proxy
        if self.network_policy is not None:
            await self.network_policy.cleanup()
        if self.dns is not None:
            await self.dns.stop()
        if self.server is not None:
            await self.server.stop()
        if self._metrics is not None:
            await self._metrics.cleanup()
            self._metrics = None
        if self._volumes_task is not None:
            self._volumes_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._volumes_task
        await self.pods.stop()
        await self._tokens.close()
        await self.runtime.close()
