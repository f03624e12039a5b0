"""The service proxy's iptables rules (agent/network/proxyrules.py), and the gateway's table they
are made from: ClusterIPs, node ports, external and load balancer addresses, traffic policy,
REJECT when there is no endpoint, and the health check answers."""

from __future__ import annotations

import json

from pyctl_proto import node_pb2 as pb

from agent.network.healthcheck import response, wanted
from agent.network.proxyrules import NodeView, chain_name, cleanup_rules, our_chains, render
from controlplane.gateway.services import service_table

Backend = tuple[str, int, str]  # ip, port, node


def entry(name: str, ip: str, *ports: tuple[str, int, list[Backend]], proto: str = "TCP",
          node_ports: tuple[int, ...] = (), **fields) -> pb.ServiceEntry:
    return pb.ServiceEntry(namespace="default", name=name, cluster_ip=ip, ports=[
        pb.ServicePortEntry(name=pn, protocol=proto, port=p, node_port=node_ports[i] if node_ports else 0,
                            backends=[pb.ServiceBackend(ip=b[0], port=b[1], node=b[2]) for b in be])
        for i, (pn, p, be) in enumerate(ports)], **fields)


def tables(rules: str) -> dict[str, list[str]]:
    """The rule lines of each table in iptables-restore input."""
    out: dict[str, list[str]] = {}
    current = ""
    for line in rules.splitlines():
        if line.startswith("*"):
            current = line[1:]
        elif line.startswith("-A "):
            out.setdefault(current, []).append(line)
    return out


def chain(rules: list[str], name: str) -> list[str]:
    return [r for r in rules if r.startswith(f"-A {name} ")]


WEB = [("10.244.1.2", 8080, "n1"), ("10.244.1.3", 8080, "n1"), ("10.244.2.2", 8080, "n2")]


def test_cluster_ip_balances_evenly_snat_marked_once_and_dnats_each_backend():
    rules = render(pb.ServiceTable(services=[entry("web", "10.96.0.10", ("http", 80, WEB))]))
    nat = tables(rules)["nat"]
    svc = chain_name("SVC", "default", "web", "http", "tcp")
    assert rules.startswith("*nat\n") and rules.endswith("COMMIT\n")
    assert (f"-A PYCTL-SERVICES -d 10.96.0.10/32 -p tcp -m tcp --dport 80 "
            f'-m comment --comment "default/web:http cluster IP" -j {svc}') in nat
    jumps = chain(nat, svc)
    assert jumps[0].endswith("-j PYCTL-MARK-MASQ")
    assert ["--probability 0.3333333333" in jumps[1], "--probability 0.5000000000" in jumps[2],
            "statistic" not in jumps[3]] == [True, True, True]
    for ip, port, _ in WEB:
        assert any(r.endswith(f"-j DNAT --to-destination {ip}:{port}") for r in nat)
    assert "-j MASQUERADE" in rules and "PYCTL-NODEPORTS -m" not in rules


def test_snat_to_the_bridge_address_so_backends_on_other_nodes_can_answer():
    table = pb.ServiceTable(services=[entry("web", "10.96.0.10", ("http", 80, WEB[:1]))])
    rules = render(table, view=NodeView(source="10.244.1.1"))
    assert "-j SNAT --to-source 10.244.1.1" in rules and "MASQUERADE" not in rules
    # The node's own connections to pods elsewhere (the ingress proxy's) too, once the pod network is known.
    nat = tables(render(table, view=NodeView(source="10.244.1.1", cluster_cidr="10.244.0.0/16")))["nat"]
    assert chain(nat, "PYCTL-POSTROUTING")[0] == (
        "-A PYCTL-POSTROUTING -m addrtype --src-type LOCAL ! -s 10.244.0.0/16 -d 10.244.0.0/16 -m comment "
        '--comment "node to pods elsewhere: an address they can answer" -j SNAT --to-source 10.244.1.1')


def test_snat_only_where_the_reply_would_miss_this_node():
    table = pb.ServiceTable(services=[entry("web", "10.96.0.10", ("http", 80, [("10.244.2.3", 8080, "n2")]))])
    view = NodeView(source="10.244.1.1", pod_cidr="10.244.1.0/24", cluster_cidr="10.244.0.0/16")
    marked = chain(tables(render(table, view=view))["nat"], "PYCTL-POSTROUTING")[3:]
    targets = [(r.split(" -m comment")[0].removeprefix("-A PYCTL-POSTROUTING").strip(), r.split(" -j ")[-1])
               for r in marked]
    assert targets == [
        ("-d 10.244.1.0/24", "SNAT --to-source 10.244.1.1"),       # a backend on this node's bridge
        ("-s 10.244.0.0/16 -d 10.244.0.0/16", "RETURN"),          # pod to a pod elsewhere: keep its address
        ("-d 10.244.0.0/16", "SNAT --to-source 10.244.1.1"),      # the node itself to a pod elsewhere
        ("", "MASQUERADE")]                                         # out of the pod network (the API)


def test_node_port_answers_on_every_node_address_but_loopback_and_goes_cluster_wide():
    table = pb.ServiceTable(services=[entry("web", "10.96.0.10", ("http", 80, WEB), node_ports=(30080,),
                                            type="NodePort")])
    nat = tables(render(table, view=NodeView(node="n1")))["nat"]
    svc, ext = (chain_name(k, "default", "web", "http", "tcp") for k in ("SVC", "EXT"))
    assert chain(nat, "PYCTL-NODEPORTS") == [
        f'-A PYCTL-NODEPORTS -p tcp -m tcp --dport 30080 -m comment --comment "default/web:http node port" -j {ext}']
    assert chain(nat, "PYCTL-SERVICES")[-1] == (
        '-A PYCTL-SERVICES -m addrtype --dst-type LOCAL ! -d 127.0.0.0/8 '
        '-m comment --comment "node ports: keep last" -j PYCTL-NODEPORTS')
    assert chain(nat, ext) == [f'-A {ext} -m comment --comment "default/web:http external" -j {svc}']


def test_local_policy_uses_only_this_nodes_endpoints_and_pods_go_cluster_wide():
    svc_entry = entry("web", "10.96.0.10", ("http", 80, WEB), node_ports=(30080,), type="LoadBalancer",
                      external_local=True, load_balancer_ips=["172.30.1.11"])
    nat = tables(render(pb.ServiceTable(services=[svc_entry]),
                        view=NodeView(node="n1", cluster_cidr="10.244.0.0/16")))["nat"]
    svc, ext = (chain_name(k, "default", "web", "http", "tcp") for k in ("SVC", "EXT"))
    local = [chain_name("SEP", "default", "web", "http", "tcp", ip, "8080") for ip, _, n in WEB if n == "n1"]
    rules = chain(nat, ext)
    assert rules[0] == f'-A {ext} -s 10.244.0.0/16 -m comment --comment "default/web:http from pods: ' \
                       f'cluster-wide" -j {svc}'
    # SNAT too: a pod has no route to an outside client (no default route), so it answers the node.
    assert [r.rsplit(" -j ", 1)[1] for r in rules[1:]] == ["PYCTL-MARK-MASQ", *local]
    assert "--probability 0.5000000000" in rules[2]
    assert (f'-A PYCTL-SERVICES -d 172.30.1.11/32 -p tcp -m tcp --dport 80 -m comment --comment '
            f'"default/web:http external address" -j {ext}') in nat
    # A node without an endpoint of it drops that traffic instead (its health check says 503).
    filt = tables(render(pb.ServiceTable(services=[svc_entry]), view=NodeView(node="n3")))["filter"]
    assert chain(filt, "PYCTL-EXTERNAL") == [
        '-A PYCTL-EXTERNAL -d 172.30.1.11/32 -p tcp -m tcp --dport 80 -m comment --comment '
        '"default/web:http has no local endpoints" -j DROP',
        '-A PYCTL-EXTERNAL -m addrtype --dst-type LOCAL ! -d 127.0.0.0/8 -p tcp -m tcp --dport 30080 '
        '-m comment --comment "default/web:http has no local endpoints" -j DROP']


def test_a_service_without_endpoints_is_rejected_at_once_everywhere():
    table = pb.ServiceTable(services=[entry("idle", "10.96.0.11", ("", 80, []), node_ports=(30081,),
                                            type="LoadBalancer", load_balancer_ips=["172.30.1.12"],
                                            external_ips=["192.0.2.7"])])
    t = tables(render(table))
    assert "nat" not in t or not any("idle" in r for r in t["nat"])
    assert chain(t["filter"], "PYCTL-SERVICES") == [
        '-A PYCTL-SERVICES -d 10.96.0.11/32 -p tcp -m tcp --dport 80 -m comment --comment '
        '"default/idle has no endpoints" -j REJECT']
    assert [r.split(" -m comment")[0] for r in chain(t["filter"], "PYCTL-EXTERNAL")] == [
        "-A PYCTL-EXTERNAL -d 192.0.2.7/32 -p tcp -m tcp --dport 80",
        "-A PYCTL-EXTERNAL -d 172.30.1.12/32 -p tcp -m tcp --dport 80",
        "-A PYCTL-EXTERNAL -m addrtype --dst-type LOCAL ! -d 127.0.0.0/8 -p tcp -m tcp --dport 30081"]


def test_headless_gets_no_rules_and_stale_chains_are_deleted_in_their_table():
    stale = chain_name("SVC", "default", "gone", "", "tcp")
    rules = render(pb.ServiceTable(services=[entry("db", "None", ("", 5432, [("10.244.1.2", 5432, "n1")]))]),
                   existing={"nat": {stale, "PYCTL-SERVICES"}, "filter": {"PYCTL-OLD"}})
    assert "DNAT" not in rules and "REJECT" not in rules
    assert f":{stale} - [0:0]" in rules and f"-X {stale}" in rules and "-X PYCTL-OLD" in rules
    assert "-X PYCTL-SERVICES" not in rules


def test_chain_names_fit_iptables_and_udp_is_matched_as_udp():
    long = "x" * 63
    assert len(chain_name("SEP", long, long, long, "tcp", "10.244.1.2", "8080")) <= 28
    rules = render(pb.ServiceTable(services=[entry("dns", "10.96.0.53", ("dns", 53, [("10.244.1.2", 53, "")]),
                                                   proto="UDP")]))
    assert "-p udp -m udp --dport 53" in rules


def test_cleanup_deletes_exactly_our_chains_in_each_table():
    saved = ("*nat\n:PREROUTING ACCEPT [0:0]\n:PYCTL-SERVICES - [0:0]\n:KUBE-SERVICES - [0:0]\n"
             ":PYCTL-SVC-AB - [0:0]\nCOMMIT\n*filter\n:INPUT ACCEPT [0:0]\n:PYCTL-EXTERNAL - [0:0]\nCOMMIT\n")
    found = our_chains(saved)
    assert found == {"nat": {"PYCTL-SERVICES", "PYCTL-SVC-AB"}, "filter": {"PYCTL-EXTERNAL"}}
    out = cleanup_rules(found)
    assert "-X PYCTL-SVC-AB" in out and "-X PYCTL-EXTERNAL" in out and "KUBE" not in out and "INPUT" not in out


def test_the_network_policy_chains_in_the_filter_table_are_not_the_proxys():
    saved = ("*filter\n:FORWARD ACCEPT [0:0]\n:PYCTL-SERVICES - [0:0]\n:PYCTL-EXTERNAL - [0:0]\n"
             ":PYCTL-NETPOL - [0:0]\n:PYCTL-NP-I-ABCDEFGHIJKLMNOP - [0:0]\nCOMMIT\n")
    assert our_chains(saved) == {"filter": {"PYCTL-SERVICES", "PYCTL-EXTERNAL"}}
    assert "NETPOL" not in render(pb.ServiceTable(), our_chains(saved))


def test_gateway_table_carries_node_ports_addresses_policy_and_endpoint_nodes():
    services = [{"metadata": {"namespace": "default", "name": "lb"},
                 "spec": {"type": "LoadBalancer", "clusterIP": "10.96.0.20", "externalTrafficPolicy": "Local",
                          "healthCheckNodePort": 31999, "externalIPs": ["192.0.2.9"],
                          "ports": [{"name": "http", "port": 80, "nodePort": 30080, "protocol": "TCP"}]},
                 "status": {"loadBalancer": {"ingress": [{"ip": "172.30.1.12"}, {"ip": "172.30.1.11"}]}}}]
    eps = {"default/lb": {"subsets": [{
        "addresses": [{"ip": "10.244.1.2", "nodeName": "n1"}], "notReadyAddresses": [{"ip": "10.244.1.9"}],
        "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}]}]}}
    svc = service_table(services, eps.get, "10.96.0.0/16").services[0]
    assert (svc.type, svc.external_local, list(svc.external_ips), list(svc.load_balancer_ips),
            svc.health_check_node_port) == ("LoadBalancer", True, ["192.0.2.9"], ["172.30.1.11", "172.30.1.12"], 31999)
    assert svc.ports[0].node_port == 30080
    assert [(b.ip, b.port, b.node) for b in svc.ports[0].backends] == [("10.244.1.2", 8080, "n1")]


def test_health_check_says_200_with_local_endpoints_and_503_without():
    svc = entry("lb", "10.96.0.20", ("http", 80, WEB), external_local=True, health_check_node_port=31999,
                type="LoadBalancer")
    table = pb.ServiceTable(services=[svc, entry("other", "10.96.0.21", ("", 80, WEB), health_check_node_port=31998)])
    assert wanted(table) == {31999: ("default", "lb")}  # only Local-policy Services
    head, _, body = response(table, "n1", "default", "lb").partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK") and json.loads(body) == {
        "service": {"namespace": "default", "name": "lb"}, "localEndpoints": 2, "serviceProxyHealthy": True}
    head, _, body = response(table, "n3", "default", "lb").partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 503") and json.loads(body)["localEndpoints"] == 0
