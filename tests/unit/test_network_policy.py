"""NetworkPolicy: the kind's defaults and validation, the gateway's resolution of selectors, and
the filter rules an agent renders (checked for syntax by the e2e test's real iptables)."""

from __future__ import annotations

from agent.network.netpol import chain_name, cleanup_rules, our_chains, render
from controlplane.gateway.policies import PolicyDirectory, pod_facts, policy_table
from controlplane.resources.kinds.networkpolicy import NETWORK_POLICY
from pyctl_proto import node_pb2 as pb


def policy(name: str = "p", namespace: str = "np", **spec) -> dict:
    return {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
            "metadata": {"name": name, "namespace": namespace}, "spec": {"podSelector": {}, **spec}}


def running(name: str, ip: str, node: str = "n1", namespace: str = "np", ports=(), **labels) -> dict:
    return {"metadata": {"name": name, "namespace": namespace, "labels": labels},
            "spec": {"nodeName": node, "containers": [{"name": "c", "ports": [
                {"name": n, "containerPort": p} for n, p in ports]}]},
            "status": {"phase": "Running", "podIP": ip}}


# -- the kind ---------------------------------------------------------------------------------

def test_policy_types_default_as_kubernetes_does():
    for spec, types in (({}, ["Ingress"]), ({"egress": [{}]}, ["Ingress", "Egress"]),
                        ({"policyTypes": ["Egress"]}, ["Egress"])):
        p = policy(**spec)
        NETWORK_POLICY.default(p)
        assert p["spec"]["policyTypes"] == types


def test_validation_speaks_kubernetes():
    p = policy(ingress=[{"from": [{"ipBlock": {"cidr": "10.0.0.0/8", "except": ["11.0.0.0/16"]}},
                                  {"ipBlock": {"cidr": "nonsense"}}, {}],
                         "ports": [{"port": "http", "endPort": 90}, {"port": 90, "endPort": 80},
                                   {"endPort": 80}, {"port": 0}]}],
               policyTypes=["Sideways"])
    got = {(c["field"], c["message"]) for c in NETWORK_POLICY.validate(p)}
    assert got == {
        ("spec.ingress[0].from[0].ipBlock.except[0]", 'Invalid value: "11.0.0.0/16": must be a strict subset of `cidr`'),
        ("spec.ingress[0].from[1].ipBlock.cidr",
         'Invalid value: "nonsense": must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)'),
        ("spec.ingress[0].from[2]", "Required value: must specify a peer"),
        ("spec.ingress[0].ports[0].endPort", "Invalid value: 90: may not be specified when `port` is non-numeric"),
        ("spec.ingress[0].ports[1].endPort", "Invalid value: 80: must be greater than or equal to `port`"),
        ("spec.ingress[0].ports[2].port", "Required value: must be specified when endPort is specified"),
        ("spec.ingress[0].ports[3].port", "Invalid value: 0: must be between 1 and 65535, inclusive"),
        ("spec.policyTypes[0]", 'Unsupported value: "Sideways": supported values: "Ingress", "Egress"'),
    }


# -- the gateway's resolution -------------------------------------------------------------------

def facts(*pods: dict) -> list:
    return [f for f in map(pod_facts, pods) if f is not None]


def test_selectors_resolve_to_addresses_with_named_ports():
    pods = facts(running("backend", "10.244.1.2", ports=[("http", 8080)], app="backend"),
                 running("frontend", "10.244.2.2", "n2", role="frontend"),
                 running("elsewhere", "10.244.2.9", "n2", namespace="team", role="frontend"),
                 running("monitor", "10.244.2.7", "n2", namespace="ops", role="monitor"))
    p = policy(podSelector={"matchLabels": {"app": "backend"}}, ingress=[
        {"from": [{"podSelector": {"matchLabels": {"role": "frontend"}}},  # this namespace only
                  {"namespaceSelector": {"matchLabels": {"tier": "ops"}}},  # every pod there
                  {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "team"}},
                   "podSelector": {"matchLabels": {"role": "frontend"}}}],
         "ports": [{"protocol": "TCP", "port": "http"}]}])
    NETWORK_POLICY.default(p)
    (entry,) = policy_table([p], pods, {"ops": {"tier": "ops"}}).policies
    assert (entry.ingress, entry.egress) == (True, False)
    assert [(x.ip, x.node, [(n.name, n.port) for n in x.ports]) for x in entry.pods] == \
        [("10.244.1.2", "n1", [("http", 8080)])]
    (rule,) = entry.ingress_rules
    assert sorted(x.cidr for x in rule.peers) == ["10.244.2.2/32", "10.244.2.7/32", "10.244.2.9/32"]
    assert [(x.protocol, x.name) for x in rule.ports] == [("TCP", "http")]


def test_pods_policies_cannot_see_are_left_out():
    assert pod_facts(running("p", "")) is None  # no address yet
    finished = running("p", "10.244.1.3")
    finished["status"]["phase"] = "Succeeded"
    assert pod_facts(finished) is None
    host = running("p", "172.30.1.11")
    host["spec"]["hostNetwork"] = True
    assert pod_facts(host) is None


def test_pod_churn_without_policies_wakes_nobody():
    class Informer:
        def __init__(self) -> None:
            self.items: list = []

        def add_handlers(self, **handlers) -> None:
            self.handlers = handlers

        def list(self) -> list:
            return self.items

    woken: list[str] = []
    directory = PolicyDirectory.__new__(PolicyDirectory)  # without the API client's informers
    directory.policies, directory.namespaces, directory.pods = Informer(), Informer(), Informer()
    directory._facts, directory._table, directory._listeners = {}, None, {"n1": lambda: woken.append("n1")}
    directory._pod(running("a", "10.244.1.2"))
    assert woken == [] and directory.table() == pb.PolicyTable()
    directory.policies.items.append(policy())
    directory._pod(running("a", "10.244.1.2", app="web"))  # labels changed, and a policy exists
    assert woken == ["n1"]
    directory._pod(running("a", "10.244.1.2", app="web"))  # nothing a policy sees changed
    assert woken == ["n1"]


# -- the agent's rules ------------------------------------------------------------------------

def entry(**kw) -> pb.NetworkPolicyEntry:
    return pb.NetworkPolicyEntry(namespace="np", name=kw.pop("name", "p"), **kw)


def lines(text: str, chain: str) -> list[str]:
    return [line.removeprefix(f"-A {chain} ") for line in text.splitlines() if line.startswith(f"-A {chain} ")]


def test_only_this_nodes_isolated_pods_get_chains():
    backend = pb.PolicyPod(ip="10.244.1.2", node="n1", ports=[pb.NamedPort(name="http", protocol="TCP", port=8080)])
    remote = pb.PolicyPod(ip="10.244.2.2", node="n2")
    table = pb.PolicyTable(policies=[entry(ingress=True, pods=[backend, remote], ingress_rules=[pb.PolicyRule(
        peers=[pb.PolicyPeer(cidr="10.244.2.2/32", pod=True)],
        ports=[pb.PolicyPort(protocol="TCP", name="http"), pb.PolicyPort(protocol="TCP", name="nosuch"),
               pb.PolicyPort(protocol="UDP", port=9000, end_port=9100)])])])
    rules = render(table, "n1")
    chain = chain_name("I", "10.244.1.2")
    assert lines(rules, "PYCTL-NETPOL") == [
        "-m conntrack --ctstate RELATED,ESTABLISHED -j RETURN",
        f'-d 10.244.1.2/32 -m comment --comment "ingress of 10.244.1.2: np/p" -j {chain}']
    mark = '-m comment --comment "np/p ingress[0]" -j MARK --set-xmark 0x8000/0x8000'
    assert lines(rules, chain) == [
        "-j MARK --set-xmark 0x0/0x8000",
        f"-s 10.244.2.2/32 -p tcp -m tcp --dport 8080 {mark}",        # the named port, on this pod
        f"-s 10.244.2.2/32 -p udp -m udp --dport 9000:9100 {mark}",   # a range; `nosuch` matches nothing
        "-m mark --mark 0x8000/0x8000 -j RETURN",
        '-m comment --comment "ingress of 10.244.1.2 not allowed by np/p" -j DROP']
    assert chain_name("I", "10.244.2.2") not in rules  # the other node's pod: its agent's business


def test_default_deny_ip_block_except_and_egress_to_named_ports():
    client = pb.PolicyPod(ip="10.244.1.5", node="n1")
    table = pb.PolicyTable(policies=[
        entry(name="deny", ingress=True, egress=True, pods=[client]),
        entry(name="out", egress=True, pods=[client], egress_rules=[
            pb.PolicyRule(peers=[pb.PolicyPeer(cidr="10.0.0.0/8", except_cidrs=["10.244.2.0/24"])]),
            pb.PolicyRule(any_peer=True, ports=[pb.PolicyPort(protocol="TCP", name="metrics"),
                                                pb.PolicyPort(protocol="UDP", port=53)],
                          peers=[pb.PolicyPeer(cidr="10.244.3.3/32", pod=True, ports=[
                              pb.NamedPort(name="metrics", protocol="TCP", port=9090)])])])])
    rules = render(table, "n1")
    ingress, egress = chain_name("I", "10.244.1.5"), chain_name("E", "10.244.1.5")
    assert lines(rules, ingress)[1:] == ["-m mark --mark 0x8000/0x8000 -j RETURN",
                                         '-m comment --comment "ingress of 10.244.1.5 not allowed by np/deny" -j DROP']
    sub = chain_name("X", "egress", "10.244.1.5", "np", "out", "0", "0")
    got = lines(rules, egress)
    assert f'-d 10.0.0.0/8 -m comment --comment "np/out egress[0]" -j {sub}' in got
    assert lines(rules, sub) == ['-d 10.244.2.0/24 -m comment --comment "np/out egress[0] except" -j RETURN',
                                 '-m comment --comment "np/out egress[0]" -j MARK --set-xmark 0x8000/0x8000']
    mark = '-m comment --comment "np/out egress[1]" -j MARK --set-xmark 0x8000/0x8000'
    assert f"-p udp -m udp --dport 53 {mark}" in got               # a numbered port: anywhere
    assert f"-d 10.244.3.3/32 -p tcp -m tcp --dport 9090 {mark}" in got  # a named one: where it exists


def test_stale_chains_go_in_the_same_transaction_and_cleanup_is_exact():
    stale = chain_name("I", "10.244.1.9")
    rules = render(pb.PolicyTable(), "n1", {stale, "PYCTL-NETPOL"})
    assert f":{stale} - [0:0]" in rules and f"-X {stale}" in rules and "-X PYCTL-NETPOL" not in rules
    saved = ":FORWARD ACCEPT [0:0]\n:PYCTL-NETPOL - [0:0]\n:PYCTL-SERVICES - [0:0]\n" f":{stale} - [0:0]\n"
    assert our_chains(saved) == {"PYCTL-NETPOL", stale}
    out = cleanup_rules(our_chains(saved))
    assert "-X PYCTL-NETPOL" in out and "SERVICES" not in out and "FORWARD" not in out
