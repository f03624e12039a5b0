"""The node gateway: the gRPC NodeService agents dial (SwarmKit's dispatcher, for pods).

It is a control-plane component like the scheduler: it reaches state only through the
HTTP API (controlplane.client), never the store. With `GatewayConfig.tls` it requires node
certificates and serves joins (security.py).

    handle = await start_gateway("http://127.0.0.1:6443", "0.0.0.0:7443")
    ...
    await handle.stop()
"""

from .hub import GatewayConfig
from .server import GatewayHandle, start_gateway

__all__ = ["GatewayConfig", "GatewayHandle", "start_gateway"]
