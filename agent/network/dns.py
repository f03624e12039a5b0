"""Cluster DNS on each node: A records for Services, from the agent's ServiceTable.

A small responder on the node's pod-bridge gateway address, port 53, UDP and TCP (the
address pods' /etc/resolv.conf names, see `resolv_conf`). It answers
`<service>.<namespace>.svc.cluster.local` with the ClusterIP, or for a headless Service
with its ready endpoint IPs, and, as CoreDNS does, `<hostname>.<service>.<namespace>.svc.
cluster.local` with the IP of the headless Service's endpoint of that hostname (a pod whose
subdomain is the Service: a StatefulSet's `db-1.db.ns.svc.cluster.local`); any other name in
cluster.local is NXDOMAIN and every other
name REFUSED: it forwards nothing, so no query ever leaves the machine. Only what a
resolver needs is parsed (one question, no EDNS answers); anything malformed is dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import struct

from pyctl_proto import node_pb2 as pb

from .netns import bound_socket

log = logging.getLogger(__name__)

DOMAIN = "cluster.local"
TTL = 5  # seconds: a moved ClusterIP never happens, but endpoints of headless Services do
A, AAAA, IN = 1, 28, 1
NOERROR, FORMERR, NXDOMAIN, REFUSED = 0, 1, 3, 5
MAX_TCP = 4096


def resolv_conf(nameserver: str, namespace: str) -> str:
    """A pod's /etc/resolv.conf under dnsPolicy ClusterFirst, as the kubelet writes it."""
    return (f"nameserver {nameserver}\n"
            f"search {namespace}.svc.{DOMAIN} svc.{DOMAIN} {DOMAIN}\n"
            "options ndots:5\n")


def parse_query(data: bytes) -> tuple[int, int, str, int, bytes]:
    """(id, flags, lowercase name, qtype, question bytes) of a query; ValueError if malformed."""
    if len(data) < 12:
        raise ValueError("short header")
    qid, flags, qdcount = struct.unpack("!HHH", data[:6])
    if qdcount != 1 or flags & 0x8000:
        raise ValueError("not a single-question query")
    labels, i = [], 12
    while True:
        if i >= len(data):
            raise ValueError("truncated name")
        n = data[i]
        if n == 0:
            i += 1
            break
        if n & 0xC0 or i + 1 + n > len(data):
            raise ValueError("bad label")
        labels.append(data[i + 1:i + 1 + n].decode("ascii", "replace").lower())
        i += 1 + n
    if i + 4 > len(data):
        raise ValueError("truncated question")
    qtype, _qclass = struct.unpack("!HH", data[i:i + 4])
    return qid, flags, ".".join(labels), qtype, data[12:i + 4]


def lookup(table: pb.ServiceTable | None, name: str) -> tuple[int, list[str]]:
    """(rcode, IPv4 addresses) for `name` (no trailing dot)."""
    if name != DOMAIN and not name.endswith("." + DOMAIN):
        return REFUSED, []
    parts = name[: -len(DOMAIN) - 1].split(".") if name != DOMAIN else []
    if len(parts) not in (3, 4) or parts[-1] != "svc":
        return NXDOMAIN, []
    host, (svc_name, namespace) = (parts[0] if len(parts) == 4 else None), parts[-3:-1]
    for svc in (table.services if table is not None else []):
        if svc.name != svc_name or svc.namespace != namespace:
            continue
        if host is not None:  # a pod of a headless Service, by its hostname
            ips = sorted({a.ip for a in svc.addresses if a.hostname == host}) if svc.cluster_ip == "None" else []
            return (NOERROR, ips) if ips else (NXDOMAIN, [])
        if svc.cluster_ip != "None":
            return NOERROR, [svc.cluster_ip]
        if svc.addresses:
            return NOERROR, sorted({a.ip for a in svc.addresses})
        return NOERROR, sorted({b.ip for p in svc.ports for b in p.backends})
    return NXDOMAIN, []


def respond(table: pb.ServiceTable | None, query: bytes) -> bytes | None:
    """The response to one query message; None to drop it (not even a header to answer)."""
    try:
        qid, flags, name, qtype, question = parse_query(query)
    except ValueError:
        if len(query) >= 2:  # a header we can echo: say FORMERR
            return struct.pack("!HHHHHH", struct.unpack("!H", query[:2])[0], 0x8000 | FORMERR, 0, 0, 0, 0)
        return None
    rcode, ips = lookup(table, name)
    answers = [ip for ip in ips if qtype == A]  # AAAA etc. of a known name: NOERROR, no data
    rd = flags & 0x0100
    header = struct.pack("!HHHHHH", qid, 0x8000 | 0x0400 | rd | rcode, 1, len(answers), 0, 0)
    records = b"".join(struct.pack("!HHHIH", 0xC00C, A, IN, TTL, 4) + socket.inet_aton(ip) for ip in answers)
    return header + question + records


class _Udp(asyncio.DatagramProtocol):
    def __init__(self, server: "DnsServer") -> None:
        self.server = server
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport) -> None:  # type: ignore[override]
        self.transport = transport

    def datagram_received(self, data: bytes, addr) -> None:  # type: ignore[override]
        reply = respond(self.server.table, data)
        if reply is not None and self.transport is not None:
            self.transport.sendto(reply, addr)


class DnsServer:
    """Serves the latest ServiceTable on `address`:`port` (UDP and TCP) until stopped."""

    def __init__(self, address: str, port: int = 53, netns: str | None = None) -> None:
        self.address, self.port, self.netns = address, port, netns
        self.table: pb.ServiceTable | None = None
        self._udp: asyncio.DatagramTransport | None = None
        self._tcp: asyncio.AbstractServer | None = None

    def update(self, table: pb.ServiceTable) -> None:
        self.table = table

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        udp = bound_socket(socket.SOCK_DGRAM, self.address, self.port, self.netns)
        tcp = bound_socket(socket.SOCK_STREAM, self.address, self.port, self.netns)
        self._udp, _ = await loop.create_datagram_endpoint(lambda: _Udp(self), sock=udp)
        self._tcp = await asyncio.start_server(self._serve_tcp, sock=tcp)
        log.info("cluster DNS on %s:%d", self.address, self.port)

    async def _serve_tcp(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            for _ in range(16):  # a few queries per connection, then close: bounded
                size = struct.unpack("!H", await asyncio.wait_for(reader.readexactly(2), 10))[0]
                if size > MAX_TCP:
                    break
                reply = respond(self.table, await asyncio.wait_for(reader.readexactly(size), 10))
                if reply is None:
                    break
                writer.write(struct.pack("!H", len(reply)) + reply)
                await writer.drain()
        except (asyncio.IncompleteReadError, asyncio.TimeoutError, ConnectionError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def stop(self) -> None:
        if self._udp is not None:
            self._udp.close()
            self._udp = None
        if self._tcp is not None:
            self._tcp.close()
            await self._tcp.wait_closed()
            self._tcp = None
