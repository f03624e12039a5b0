"""healthCheckNodePort: each node tells an external load balancer whether it has local endpoints.

For a LoadBalancer Service with `externalTrafficPolicy: Local`, kube-proxy answers HTTP on the
Service's healthCheckNodePort on every node: 200 when the node runs at least one ready
endpoint of the Service, 503 when it runs none (that node drops the Service's external
traffic), so a balancer sends clients only to nodes that can serve them. The body is
kube-proxy's: {"service": {"namespace", "name"}, "localEndpoints": N, "serviceProxyHealthy": true}.

One listening socket per port, made in the proxy's network namespace, opened and closed as
the ServiceTable says; the answer is computed from the latest table on each request.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import socket

from pyctl_proto import node_pb2 as pb

from .netns import bound_socket

log = logging.getLogger(__name__)



def local_endpoints(svc: pb.ServiceEntry, node: str) -> int:
    """Distinct ready endpoints of the Service on `node`."""
    return len({b.ip for p in svc.ports for b in p.backends if node and b.node == node})


def wanted(table: pb.ServiceTable) -> dict[int, tuple[str, str]]:
    """healthCheckNodePort -> (namespace, name) of the Service it answers for."""
    return {s.health_check_node_port: (s.namespace, s.name)
            for s in table.services if s.health_check_node_port and s.external_local}


def response(table: pb.ServiceTable, node: str, namespace: str, name: str) -> bytes:
    svc = next((s for s in table.services if (s.namespace, s.name) == (namespace, name)), None)
    count = local_endpoints(svc, node) if svc is not None else 0
    body = json.dumps({"service": {"namespace": namespace, "name": name}, "localEndpoints": count,
                       "serviceProxyHealthy": True}).encode() + b"\n"
    status = "200 OK" if count else "503 Service Unavailable"
    head = (f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\nX-Content-Type-Options: nosniff\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n")
    return head.encode() + body


class HealthChecks:
    """Serves every healthCheckNodePort of the latest table on all of the namespace's addresses."""

    def __init__(self, node: str, netns: str | None = None) -> None:
        self.node = node
        self.netns = netns
        self.table = pb.ServiceTable()
        self._servers: dict[int, tuple[tuple[str, str], asyncio.AbstractServer]] = {}

    async def sync(self, table: pb.ServiceTable) -> None:
        """Open the ports the table wants, close the others."""
        self.table = table
        want = wanted(table)
        for port in list(self._servers):
            if want.get(port) != self._servers[port][0]:
                await self._close(port)
        for port, who in sorted(want.items()):
            if port in self._servers:
                continue
            try:
                sock = bound_socket(socket.SOCK_STREAM, "0.0.0.0", port, self.netns)
            except OSError as exc:
                log.warning("health check port %d of %s/%s: %s", port, *who, exc)
                continue
            server = await asyncio.start_server(functools.partial(self._serve, who=who), sock=sock)
            self._servers[port] = (who, server)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *,
                     who: tuple[str, str]) -> None:
        try:
            with contextlib.suppress(asyncio.IncompleteReadError, asyncio.LimitOverrunError):
                await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
            writer.write(response(self.table, self.node, *who))
            await writer.drain()
        except (asyncio.TimeoutError, ConnectionError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _close(self, port: int) -> None:
        _, server = self._servers.pop(port)
        server.close()
        await server.wait_closed()

    async def stop(self) -> None:
        for port in list(self._servers):
            await self._close(port)
