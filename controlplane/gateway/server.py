"""The gateway's gRPC server: the NodeService servicer over the hub (hub.py), started and stopped."""
# PodToken is served beside the session on the same port and identity (podtokens.py).

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import grpc

from pyctl_proto import node_pb2_grpc

from .hub import GatewayConfig, Hub
from .podtokens import pod_token
from .security import caller_node, join, renew
from .session import Session

log = logging.getLogger(__name__)

MAX_MESSAGE = 64 * 1024 * 1024  # a COMPLETE snapshot of a busy node can be large


class NodeService:
    """The gRPC NodeService servicer: a Session per agent stream, Join and Renew."""

    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        self.config = hub.config

    # -- NodeService ---------------------------------------------------------------------------

    async def Session(self, request_iterator: Any, context: grpc.aio.ServicerContext) -> None:  # noqa: N802
        tls = self.config.tls
        identity = await caller_node(context, tls) if tls is not None else ""
        await Session(self.hub, context, identity=identity).run()

    async def Join(self, request: Any, context: grpc.aio.ServicerContext) -> Any:  # noqa: N802
        if self.config.tls is None:
            await context.abort(grpc.StatusCode.UNIMPLEMENTED, "this gateway is insecure: nodes need no join")
        assert self.config.tls is not None
        return await join(request, context, self.config.tls, self.hub.client)

    async def PodToken(self, request: Any, context: grpc.aio.ServicerContext) -> Any:  # noqa: N802
        tls = self.config.tls
        node = await caller_node(context, tls) if tls is not None else request.node_name
        if not node:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "node_name is required on an insecure gateway")
        await self.hub.pods.wait_synced()
        return await pod_token(request, context, node, self.hub.pods.get(request.namespace, request.pod),
                               self.hub.client)

    async def Renew(self, request: Any, context: grpc.aio.ServicerContext) -> Any:  # noqa: N802
        if self.config.tls is None:
            await context.abort(grpc.StatusCode.UNIMPLEMENTED, "this gateway is insecure: no certificates")
        assert self.config.tls is not None
        return await renew(request, context, self.config.tls)


@dataclass
class GatewayHandle:
    gateway: Hub
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
    gateway = Hub(api_url, config)
    await gateway.start()
    server = grpc.aio.server(options=[("grpc.max_receive_message_length", MAX_MESSAGE),
                                      ("grpc.max_send_message_length", MAX_MESSAGE),
                                      ("grpc.so_reuseport", 0)])
    node_pb2_grpc.add_NodeServiceServicer_to_server(NodeService(gateway), server)
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
