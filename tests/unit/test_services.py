"""Pure parts of Services: ClusterIP picking, the gateway's table, env vars, DNS (proxy rules:
test_proxy_rules.py)."""

from __future__ import annotations

import ipaddress
import random

from pyctl_proto import node_pb2 as pb

from agent.serviceenv import service_env
from controlplane.api.serviceip import pick_free
from controlplane.resources.kinds.service import keep_allocated, wants_ip
from controlplane.gateway.services import service_table


def entry(name: str, ip: str, *ports: tuple[str, int, list[tuple[str, int]]], ns: str = "default",
          proto: str = "TCP") -> pb.ServiceEntry:
    return pb.ServiceEntry(namespace=ns, name=name, cluster_ip=ip, ports=[
        pb.ServicePortEntry(name=pn, protocol=proto, port=p, backends=[pb.ServiceBackend(ip=i, port=bp)
                                                                       for i, bp in be])
        for pn, p, be in ports])


# -- allocation ------------------------------------------------------------------------------

def test_pick_free_never_returns_network_broadcast_first_or_used():
    # The first address is the `kubernetes` Service's, never handed out at random.
    net = ipaddress.ip_network("10.96.0.0/29")
    used: set[str] = set()
    for seed in range(5):
        ip = pick_free(net, used, random.Random(seed))
        assert ip is not None and ip not in used
        used.add(ip)
    assert used == {f"10.96.0.{i}" for i in range(2, 7)}
    assert pick_free(net, used, random.Random(0)) is None


def test_which_services_get_an_ip():
    assert wants_ip({"spec": {"type": "ClusterIP"}})
    assert wants_ip({"spec": {"type": "NodePort"}})
    assert not wants_ip({"spec": {"type": "ClusterIP", "clusterIP": "None"}})
    assert not wants_ip({"spec": {"type": "ExternalName"}})


def test_update_without_cluster_ip_keeps_the_allocated_one():
    old = {"spec": {"type": "ClusterIP", "clusterIP": "10.96.0.5", "clusterIPs": ["10.96.0.5"]}}
    new = {"spec": {"type": "ClusterIP", "ports": [{"port": 81}]}}
    keep_allocated(old, new)
    assert new["spec"]["clusterIP"] == "10.96.0.5" and new["spec"]["clusterIPs"] == ["10.96.0.5"]


# -- the gateway's table -----------------------------------------------------------------------

def test_table_has_ready_backends_per_named_port_and_skips_external_names():
    services = [
        {"metadata": {"namespace": "default", "name": "web"},
         "spec": {"clusterIP": "10.96.0.10", "ports": [{"name": "http", "port": 80, "protocol": "TCP"},
                                                        {"name": "dns", "port": 53, "protocol": "UDP"}]}},
        {"metadata": {"namespace": "default", "name": "ext"},
         "spec": {"type": "ExternalName", "externalName": "example.invalid"}},
    ]
    eps = {"default/web": {"subsets": [{
        "addresses": [{"ip": "10.244.1.3"}, {"ip": "10.244.1.2"}], "notReadyAddresses": [{"ip": "10.244.1.9"}],
        "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}, {"name": "dns", "port": 53, "protocol": "UDP"}]}]}}
    t = service_table(services, eps.get, "10.96.0.0/16")
    assert t.service_cidr == "10.96.0.0/16"
    assert [s.name for s in t.services] == ["web"]
    http, dns = t.services[0].ports
    assert [(b.ip, b.port) for b in http.backends] == [("10.244.1.2", 8080), ("10.244.1.3", 8080)]
    assert (dns.protocol, [(b.ip, b.port) for b in dns.backends]) == ("UDP", [("10.244.1.2", 53), ("10.244.1.3", 53)])


# -- env vars ------------------------------------------------------------------------------------

def test_service_env_as_the_kubelet_writes_it():
    table = pb.ServiceTable(services=[
        entry("my-app", "10.96.0.10", ("http", 80, []), ("metrics", 9090, [])),
        entry("headless", "None", ("", 80, [])),
        entry("elsewhere", "10.96.0.12", ("", 80, []), ns="other"),
    ])
    env = service_env(table, {"metadata": {"namespace": "default"}, "spec": {}})
    assert env == {
        "MY_APP_SERVICE_HOST": "10.96.0.10", "MY_APP_SERVICE_PORT": "80",
        "MY_APP_SERVICE_PORT_HTTP": "80", "MY_APP_SERVICE_PORT_METRICS": "9090",
        "MY_APP_PORT": "tcp://10.96.0.10:80",
        "MY_APP_PORT_80_TCP": "tcp://10.96.0.10:80", "MY_APP_PORT_80_TCP_PROTO": "tcp",
        "MY_APP_PORT_80_TCP_PORT": "80", "MY_APP_PORT_80_TCP_ADDR": "10.96.0.10",
        "MY_APP_PORT_9090_TCP": "tcp://10.96.0.10:9090", "MY_APP_PORT_9090_TCP_PROTO": "tcp",
        "MY_APP_PORT_9090_TCP_PORT": "9090", "MY_APP_PORT_9090_TCP_ADDR": "10.96.0.10",
    }
    assert service_env(table, {"metadata": {"namespace": "default"}, "spec": {"enableServiceLinks": False}}) == {}


def test_container_env_overrides_and_expands_service_vars():
    from agent.podconfig import container_env
    pod = {"metadata": {"namespace": "default", "uid": "u"}, "spec": {}}
    container = {"env": [{"name": "URL", "value": "http://$(WEB_SERVICE_HOST)"},
                         {"name": "WEB_SERVICE_PORT", "value": "override"}]}
    env = dict(container_env(pod, container, {}, services={"WEB_SERVICE_HOST": "10.96.0.10",
                                                         "WEB_SERVICE_PORT": "80"}))
    assert env["URL"] == "http://10.96.0.10" and env["WEB_SERVICE_PORT"] == "override"


# -- cluster DNS -------------------------------------------------------------------------------

def dns_query(name: str, qtype: int = 1, qid: int = 0x1234) -> bytes:
    import struct
    labels = b"".join(bytes([len(p)]) + p.encode() for p in name.split(".")) + b"\0"
    return struct.pack("!HHHHHH", qid, 0x0100, 1, 0, 0, 0) + labels + struct.pack("!HH", qtype, 1)


def dns_answer(reply: bytes) -> tuple[int, int, list[str]]:
    """(id, rcode, A addresses) of a response to one of our queries."""
    import socket
    import struct
    qid, flags, qdcount, ancount = struct.unpack("!HHHH", reply[:8])
    i = reply.index(b"\0", 12) + 5 if qdcount else 12
    ips = []
    for _ in range(ancount):
        ips.append(socket.inet_ntoa(reply[i + 12:i + 16]))
        i += 16
    return qid, flags & 0xF, ips


DNS_TABLE = pb.ServiceTable(services=[
    entry("web", "10.96.0.10", ("http", 80, [("10.244.1.2", 8080)])),
    entry("db", "None", ("", 5432, [("10.244.1.5", 5432), ("10.244.1.4", 5432)])),
])


def test_dns_answers_services_and_refuses_the_rest():
    from agent.network.dns import respond
    assert dns_answer(respond(DNS_TABLE, dns_query("web.default.svc.cluster.local"))) == (0x1234, 0, ["10.96.0.10"])
    assert dns_answer(respond(DNS_TABLE, dns_query("WEB.Default.svc.cluster.local"))) == (0x1234, 0, ["10.96.0.10"])
    assert dns_answer(respond(DNS_TABLE, dns_query("db.default.svc.cluster.local")))[2] == ["10.244.1.4", "10.244.1.5"]
    assert dns_answer(respond(DNS_TABLE, dns_query("web.default.svc.cluster.local", qtype=28))) == (0x1234, 0, [])
    assert dns_answer(respond(DNS_TABLE, dns_query("web.other.svc.cluster.local")))[1] == 3  # NXDOMAIN
    assert dns_answer(respond(DNS_TABLE, dns_query("web.default.svc.cluster.local.default.svc.cluster.local")))[1] == 3
    assert dns_answer(respond(DNS_TABLE, dns_query("example.com")))[1] == 5  # REFUSED: nothing is forwarded
    assert dns_answer(respond(DNS_TABLE, b"\x12\x34\x01"))[:2] == (0x1234, 1)  # FORMERR
    assert respond(DNS_TABLE, b"\x12") is None


def test_headless_services_carry_their_addresses_and_hostnames_for_dns():
    services = [{"metadata": {"namespace": "default", "name": "db"},
                 "spec": {"clusterIP": "None", "ports": [{"name": "sql", "port": 5432}]}},
                {"metadata": {"namespace": "default", "name": "bare"}, "spec": {"clusterIP": "None"}},
                {"metadata": {"namespace": "default", "name": "web"}, "spec": {"clusterIP": "10.96.0.10",
                                                                               "ports": [{"port": 80}]}}]
    eps = {"default/db": {"subsets": [{"addresses": [{"ip": "10.244.1.5", "hostname": "db-1"},
                                                     {"ip": "10.244.1.4", "hostname": "db-0"}],
                                       "notReadyAddresses": [{"ip": "10.244.1.6", "hostname": "db-2"}],
                                       "ports": [{"name": "sql", "port": 5432}]}]},
           "default/bare": {"subsets": [{"addresses": [{"ip": "10.244.2.7"}]}]},  # no ports at all
           "default/web": {"subsets": [{"addresses": [{"ip": "10.244.1.2", "hostname": "x"}],
                                        "ports": [{"port": 80}]}]}}
    table = service_table(services, eps.get, "10.96.0.0/16")
    got = {s.name: [(a.ip, a.hostname) for a in s.addresses] for s in table.services}
    assert got == {"bare": [("10.244.2.7", "")], "db": [("10.244.1.4", "db-0"), ("10.244.1.5", "db-1")], "web": []}

    from agent.network.dns import respond
    # As CoreDNS: <hostname>.<service>.<ns>.svc for a headless Service's pods (a StatefulSet's)...
    assert dns_answer(respond(table, dns_query("db-1.db.default.svc.cluster.local")))[1:] == (0, ["10.244.1.5"])
    assert dns_answer(respond(table, dns_query("DB-0.db.default.svc.cluster.local")))[1:] == (0, ["10.244.1.4"])
    # ...not for a not-ready pod, nor a pod of a Service with a ClusterIP, nor another namespace.
    for name in ("db-2.db.default.svc.cluster.local", "x.web.default.svc.cluster.local",
                 "db-1.db.other.svc.cluster.local", "a.b.db-1.db.default.svc.cluster.local"):
        assert dns_answer(respond(table, dns_query(name)))[1] == 3, name
    # A headless Service without ports still resolves to its addresses.
    assert dns_answer(respond(table, dns_query("bare.default.svc.cluster.local")))[1:] == (0, ["10.244.2.7"])


def test_resolv_conf_for_cluster_first_pods():
    from agent.network.dns import resolv_conf
    assert resolv_conf("10.244.1.1", "shop") == ("nameserver 10.244.1.1\n"
                                                 "search shop.svc.cluster.local svc.cluster.local cluster.local\n"
                                                 "options ndots:5\n")


async def test_dns_server_answers_over_udp_and_tcp_on_loopback():
    import asyncio
    import socket
    import struct

    from agent.network.dns import DnsServer
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = DnsServer("127.0.0.1", port)
    server.update(DNS_TABLE)
    await server.start()
    try:
        loop = asyncio.get_running_loop()
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
            u.setblocking(False)
            await loop.sock_sendto(u, dns_query("web.default.svc.cluster.local"), ("127.0.0.1", port))
            reply = await asyncio.wait_for(loop.sock_recv(u, 512), 5)
        assert dns_answer(reply)[2] == ["10.96.0.10"]
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        q = dns_query("db.default.svc.cluster.local")
        writer.write(struct.pack("!H", len(q)) + q)
        size = struct.unpack("!H", await asyncio.wait_for(reader.readexactly(2), 5))[0]
        assert dns_answer(await reader.readexactly(size))[2] == ["10.244.1.4", "10.244.1.5"]
        writer.close()
    finally:
        await server.stop()
