"""Pure parts of Ingresses: which are ours, the routing they add up to (precedence, defaults,
conflicts), the gateway's table (backends resolved to endpoints by port number or name, TLS
Secrets), and the HAProxy configuration rendered from it (accepted by `haproxy -c`)."""

from __future__ import annotations

import base64
import shutil
import subprocess
from pathlib import Path

import pytest

from pyctl_proto import node_pb2 as pb

from agent.ingress import PROXY_NODE_LABEL as AGENT_LABEL
from agent.ingress.config import Layout, Settings, render
from controlplane.gateway.ingresses import certificate, ingress_table
from controlplane.machinery import ingress as m


def ing(name: str, *rules: dict, created: str = "2026-01-01T00:00:00Z", ns: str = "default", **spec) -> dict:
    return {"metadata": {"name": name, "namespace": ns, "creationTimestamp": created},
            "spec": {"rules": list(rules), **spec}}


def rule(host: str | None, *paths: tuple[str, str, str, int | str]) -> dict:
    r: dict = {"http": {"paths": [{"path": p, "pathType": t, "backend": {"service": {
        "name": svc, "port": {"number": port} if isinstance(port, int) else {"name": port}}}}
        for p, t, svc, port in paths]}}
    if host is not None:
        r["host"] = host
    return r


def backend(svc: str, port: int | str = 80) -> dict:
    return {"service": {"name": svc, "port": {"number": port} if isinstance(port, int) else {"name": port}}}


def where(table: m.Routing, host: str, path: str) -> str | None:
    ref = m.route(table, host, path)
    return ref.service if ref else None


def test_which_ingresses_are_ours():
    ours, theirs = m.default_class_object(), {"metadata": {"name": "nginx"}, "spec": {"controller": "k8s.io/nginx"}}
    classes = {"pyctl": ours, "nginx": theirs}
    assert m.handled({"spec": {"ingressClassName": "pyctl"}}, classes)
    assert not m.handled({"spec": {"ingressClassName": "nginx"}}, classes)
    assert not m.handled({"spec": {"ingressClassName": "missing"}}, classes)
    assert m.handled({"metadata": {"annotations": {m.LEGACY_CLASS_ANNOTATION: "pyctl"}}, "spec": {}}, classes)
    assert m.handled({"spec": {}}, classes)  # no class: the default's, which is ours
    assert not m.handled({"spec": {}}, {"nginx": theirs})
    assert AGENT_LABEL == m.PROXY_NODE_LABEL  # the agent and the control plane spell it alike


def test_default_class_is_the_newest_of_several():
    old = {"metadata": {"name": "a", "creationTimestamp": "2026-01-01T00:00:00Z",
                        "annotations": {m.DEFAULT_CLASS_ANNOTATION: "true"}}}
    new = {"metadata": {"name": "b", "creationTimestamp": "2026-02-01T00:00:00Z",
                        "annotations": {m.DEFAULT_CLASS_ANNOTATION: "true"}}}
    plain = {"metadata": {"name": "c", "creationTimestamp": "2026-03-01T00:00:00Z"}}
    assert m.default_class([old, new, plain]) is new and m.default_class([plain]) is None


def test_precedence_exact_hosts_then_wildcards_then_any_and_longest_path():
    t = m.routing([ing("x", rule("a.example", ("/", "Prefix", "root", 80), ("/api", "Prefix", "api", 80),
                                 ("/api/v1", "Exact", "exact", 80), ("/api/v1", "Prefix", "prefix", 80)),
                       rule("*.example", ("/", "Prefix", "wild", 80)),
                       rule(None, ("/", "Prefix", "any", 80)))])
    assert [h.host for h in t.hosts] == ["a.example", "*.example", ""]
    assert where(t, "a.example", "/api/v1") == "exact"      # Exact beats Prefix at equal length
    assert where(t, "a.example", "/api/v1/x") == "prefix"
    assert where(t, "a.example", "/apiary") == "root"       # Prefix matches whole elements
    assert where(t, "A.Example:8080", "/api/") == "api"      # case and port do not matter
    assert where(t, "b.example", "/x") == "wild"
    assert where(t, "c.b.example", "/x") == "any"            # a wildcard is exactly one label
    assert where(t, "example", "/x") == "any"


def test_defaults_per_host_and_for_unknown_hosts_and_older_claims_win():
    older = ing("older", rule("a.example", ("/x", "Exact", "first", 80)), created="2026-01-01T00:00:00Z",
                defaultBackend=backend("older-default"))
    newer = ing("newer", rule("a.example", ("/x", "Exact", "second", 80), ("/y", "Exact", "second", 80)),
                rule("b.example", ("/x", "Exact", "b", 80)), created="2026-01-02T00:00:00Z")
    t = m.routing([newer, older])
    assert where(t, "a.example", "/x") == "first"            # the older claim on host+path wins
    assert where(t, "a.example", "/y") == "second"           # other paths still merge in
    assert where(t, "a.example", "/z") == "older-default"    # its own Ingress's default
    assert where(t, "b.example", "/z") is None               # not another team's default: 404
    assert where(t, "nobody.example", "/") == "older-default"
    assert m.routing([newer]).default is None and where(m.routing([newer]), "zzz", "/") is None


def test_tls_hosts_default_to_the_ingress_rule_hosts():
    t = m.routing([ing("t", rule("a.example", ("/", "Prefix", "a", 80)), rule("b.example", ("/", "Prefix", "b", 80)),
                       tls=[{"secretName": "all"}, {"hosts": ["A.example"], "secretName": "one"}])])
    assert [(c.secret, c.hosts) for c in t.certificates] == [("all", ("a.example", "b.example")),
                                                             ("one", ("a.example",))]


def test_gateway_table_resolves_ports_by_number_and_name_and_reads_tls_secrets():
    t = m.routing([ing("t", rule("a.example", ("/", "Prefix", "web", 80), ("/m", "Prefix", "web", "metrics"),
                                 ("/gone", "Prefix", "missing", 80)),
                       tls=[{"hosts": ["a.example"], "secretName": "cert"}, {"secretName": "opaque"}])])
    services = {"default/web": {"spec": {"ports": [{"name": "http", "port": 80, "protocol": "TCP"},
                                                   {"name": "metrics", "port": 9090, "protocol": "TCP"}]}}}
    endpoints = {"default/web": {"subsets": [{"addresses": [{"ip": "10.244.1.2", "nodeName": "n1"}],
                                              "notReadyAddresses": [{"ip": "10.244.1.9"}],
                                              "ports": [{"name": "http", "port": 8080}, {"name": "metrics", "port": 9102}]}]}}
    secrets = {"default/cert": {"data": {"tls.crt": base64.b64encode(b"CERT").decode(),
                                         "tls.key": base64.b64encode(b"KEY").decode()}},
               "default/opaque": {"data": {"password": "eA=="}}}
    table = ingress_table(t, services.get, endpoints.get, secrets.get)
    by_name = {b.name: [(e.ip, e.port) for e in b.endpoints] for b in table.backends}
    assert by_name == {"default/web:80": [("10.244.1.2", 8080)], "default/web:metrics": [("10.244.1.2", 9102)],
                       "default/missing:80": []}
    assert [(c.name, list(c.hosts), c.cert_pem, c.key_pem) for c in table.certificates] == [
        ("default/cert", ["a.example"], b"CERT", b"KEY")]
    assert certificate({"data": {"tls.crt": "!!", "tls.key": "x"}}) is None


def _table() -> pb.IngressTable:
    return pb.IngressTable(
        default_backend="d/fallback:80",
        hosts=[pb.IngressHost(host="a.example", default_backend="", paths=[
                   pb.IngressPath(path="/api/v1", path_type="Exact", backend="d/exact:80"),
                   pb.IngressPath(path="/api", path_type="Prefix", backend="d/api:80"),
                   pb.IngressPath(path="/bad path", path_type="Prefix", backend="d/api:80"),
                   pb.IngressPath(path="/", path_type="Prefix", backend="d/root:80")]),
               pb.IngressHost(host="*.example", paths=[
                   pb.IngressPath(path="/s", path_type="ImplementationSpecific", backend="d/wild:80")])],
        backends=[pb.IngressBackend(name=n, endpoints=[pb.ServiceBackend(ip="10.244.1.2", port=8080)])
                  for n in ("d/exact:80", "d/api:80", "d/root:80", "d/wild:80")]
        + [pb.IngressBackend(name="d/fallback:80")])


def test_config_routes_in_table_order_and_keeps_a_host_to_its_own_rules(tmp_path):
    config, crt_list, problems = render(_table(), Layout(tmp_path, "gen-1"), Settings(http_port=8080, https_port=8443),
                                        [(0, pb.IngressCertificate(name="d/c", hosts=["a.example"]))])
    uses = [line.strip() for line in config.splitlines() if line.strip().startswith(("use_backend", "default_backend"))]
    assert uses == [
        "use_backend be_0 if host_0 { path -m str '/api/v1' }",
        "use_backend be_1 if host_0 { path -m str '/api' } || host_0 { path -m beg '/api/' }",
        "use_backend be_2 if host_0",   # Prefix "/": the whole host
        "use_backend be_not_found if host_0",
        "use_backend be_3 if host_1 { path -m beg '/s' }",
        "use_backend be_not_found if host_1",
        "default_backend be_4"]
    assert "acl host_1 var(txn.host) -m reg '^[^.]+\\.example$'" in config
    assert problems == ["path '/bad path' of host a.example has characters the proxy does not take"]
    assert config.endswith("backend be_4  # d/fallback:80\n    balance roundrobin\n")  # no server: 503
    assert crt_list.splitlines() == [str(tmp_path / "default.pem"), f"{tmp_path / 'gen-1' / 'certs' / '0.pem'} a.example"]
    assert "bind :8080" in config and f"bind :8443 ssl crt-list {tmp_path / 'gen-1' / 'certs.list'}" in config


@pytest.mark.skipif(not shutil.which("haproxy"), reason="needs haproxy (deploy/install-deps.sh)")
def test_haproxy_accepts_the_rendered_configuration(tmp_path):
    from agent.ingress.certs import self_signed
    gen = Layout(tmp_path, "gen-1")
    gen.certs.mkdir(parents=True)
    bundle = self_signed()
    gen.default_cert.write_bytes(bundle)
    (gen.certs / "0.pem").write_bytes(bundle)
    config, crt_list, _ = render(_table(), gen, Settings(), [(0, pb.IngressCertificate(name="d/c", hosts=["a.example"]))])
    gen.config.write_text(config)
    gen.crt_list.write_text(crt_list)
    done = subprocess.run(["haproxy", "-c", "-f", str(gen.config)], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stdout + done.stderr
    empty, crt_list, _ = render(pb.IngressTable(), gen, Settings())
    Path(gen.config).write_text(empty)
    gen.crt_list.write_text(crt_list)
    done = subprocess.run(["haproxy", "-c", "-f", str(gen.config)], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stdout + done.stderr
