"""Traffic from outside the cluster, end to end: one real 2-node `pyctl cluster up` cluster for the
module, driven with the pyctl CLI, reached from the host only at the nodes' addresses on the
cluster's own bridge (pyc-NAME), as a user of a local cluster reaches it.

NodePort answers on every node address; a LoadBalancer Service gets the nodes' addresses and
they answer; an Ingress (the default IngressClass `cluster up` installed, each agent's HAProxy)
routes two hosts and a path prefix to two Services, 404s an unknown host, serves TLS from a
Secret by SNI (`curl --resolve`), and drops no request of a bounded client loop while the
Deployment behind it rolls; a Service without endpoints refuses at once; `down` leaves no proxy.
Every request goes to the nodes' addresses on the cluster bridge, bounded in count and time.
"""

from __future__ import annotations

import base64
import errno
import http.client
import json
import os
import shutil
import socket
import threading
import time
import uuid
from pathlib import Path
from typing import Any, Iterator

import pytest

from pyctl.localcluster import state
from tests.e2e.helpers import processes_mentioning
from tests.e2e.test_cluster import DEMO, Env, eventually
from tests.tlscerts import server_certificate

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("runc") or not shutil.which("conmon")
                       or not shutil.which("docker-registry") or not shutil.which("haproxy")
                       or not shutil.which("curl"),
                       reason="needs root, runc, conmon, docker-registry, haproxy and curl"),
]


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    name = "ex" + uuid.uuid4().hex[:6]
    workdir = tmp_path_factory.mktemp("exposure")
    e = Env(None, str(workdir / "config"), workdir, {})  # type: ignore[arg-type]
    try:
        e.pyctl("cluster", "up", "--name", name, "--nodes", "2", "--wait", "240s", timeout=300)
        e.cluster = state.load(name)  # type: ignore[assignment]
        yield e
    finally:
        cluster = state.load(name)
        if cluster is not None:
            e.pyctl("cluster", "down", "--name", name, check=False)
            assert not processes_mentioning(f"{cluster.dir}/"), "cluster down left processes behind"


def app(name: str, replicas: int = 2, version: str = "1") -> dict[str, Any]:
    """busybox httpd answering `<name> <version>` on / and `<name> api` on /api/hello."""
    serve = (f"mkdir -p /tmp/w/api && echo {name} {version} > /tmp/w/index.html && "
             f"echo {name} api > /tmp/w/api/hello && exec httpd -f -v -p 8080 -h /tmp/w")
    labels = {"app": name}
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
            "spec": {"replicas": replicas, "selector": {"matchLabels": labels},
                     "strategy": {"rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}},
                     "template": {"metadata": {"labels": labels}, "spec": {
                         "terminationGracePeriodSeconds": 2,
                         "containers": [{"name": "web", "image": f"{DEMO}:1.0", "command": ["sh", "-c", serve],
                                         "env": [{"name": "VERSION", "value": version}],
                                         "readinessProbe": {"httpGet": {"path": "/", "port": 8080},
                                                            "periodSeconds": 1}}]}}}}


def get(host: str, port: int, path: str = "/", host_header: str | None = None,
        timeout: float = 5.0) -> tuple[int, str]:
    c = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        c.request("GET", path, headers={"Host": host_header} if host_header else {})
        r = c.getresponse()
        return r.status, r.read().decode().strip()
    finally:
        c.close()


def tries(host: str, port: int, path: str = "/", host_header: str | None = None) -> tuple[int, str] | None:
    try:
        return get(host, port, path, host_header)
    except OSError:
        return None


def node_ips(env: Env) -> list[str]:
    return [n.ip for n in env.cluster.nodes]


def service(env: Env, name: str) -> dict[str, Any]:
    out: dict[str, Any] = json.loads(env.pyctl("get", "svc", name, "-o", "json").stdout)
    return out


def test_default_ingress_class_and_proxies_are_installed(env: Env) -> None:
    classes = json.loads(env.pyctl("get", "ingressclass", "-o", "json").stdout)["items"]
    assert [(c["metadata"]["name"], c["spec"]["controller"],
             c["metadata"]["annotations"]["ingressclass.kubernetes.io/is-default-class"]) for c in classes] == [
        ("pyctl", "pyctl.io/ingress", "true")]
    nodes = json.loads(env.pyctl("get", "nodes", "-o", "json").stdout)["items"]
    assert {n["metadata"]["labels"].get("ingress.pyctl.io/proxy") for n in nodes} == {"true"}
    for apply in (app("alpha"), app("beta", 1)):
        env.apply(apply)
    for name in ("alpha", "beta"):
        env.pyctl("rollout", "status", f"deployment/{name}", "--timeout=180s", timeout=200)


def test_node_port_answers_on_every_node_address(env: Env) -> None:
    env.apply({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "alpha"},
               "spec": {"type": "NodePort", "selector": {"app": "alpha"}, "ports": [{"port": 80, "targetPort": 8080}]}})
    port = service(env, "alpha")["spec"]["ports"][0]["nodePort"]
    assert 30000 <= port <= 32767
    assert f"80:{port}/TCP" in env.pyctl("get", "svc", "alpha").stdout
    for ip in node_ips(env):  # each node, whether or not it runs an alpha pod
        assert eventually(lambda: tries(ip, port), timeout=60)[1] == "alpha 1", ip


def test_a_service_without_endpoints_refuses_at_once(env: Env) -> None:
    env.apply({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "nobody"},
               "spec": {"type": "NodePort", "selector": {"app": "nobody"}, "ports": [{"port": 80}]}})
    port = service(env, "nobody")["spec"]["ports"][0]["nodePort"]
    ip = node_ips(env)[0]

    def refused() -> bool:
        with socket.socket() as s:
            s.settimeout(10)
            return s.connect_ex((ip, port)) == errno.ECONNREFUSED  # REJECT, not a timeout
    eventually(refused, timeout=60)


def test_load_balancer_gets_the_node_addresses_and_they_answer(env: Env) -> None:
    env.apply({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "beta"},
               "spec": {"type": "LoadBalancer", "selector": {"app": "beta"},
                        "ports": [{"name": "http", "port": 8081, "targetPort": 8080}]}})
    addresses = eventually(lambda: [i["ip"] for i in service(env, "beta")["status"]
                                    .get("loadBalancer", {}).get("ingress") or []], timeout=60)
    assert sorted(addresses) == sorted(node_ips(env))
    row = env.pyctl("get", "svc", "beta").stdout.splitlines()[1].split()
    assert row[1] == "LoadBalancer" and row[3] == ",".join(sorted(node_ips(env))), row
    for ip in addresses:
        assert eventually(lambda: tries(ip, 8081), timeout=60) == (200, "beta 1"), ip


def test_local_policy_balancer_is_the_node_with_an_endpoint_and_health_checks_say_so(env: Env) -> None:
    env.apply({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "beta"},
               "spec": {"type": "LoadBalancer", "selector": {"app": "beta"}, "externalTrafficPolicy": "Local",
                        "ports": [{"name": "http", "port": 8081, "targetPort": 8080}]}})
    home = next(p["spec"]["nodeName"] for p in env.ready_pods() if p["metadata"]["labels"]["app"] == "beta")
    home_ip = next(n.ip for n in env.cluster.nodes if n.name == home)
    eventually(lambda: [i["ip"] for i in service(env, "beta")["status"].get("loadBalancer", {}).get("ingress") or []]
               == [home_ip], timeout=60)
    health = service(env, "beta")["spec"]["healthCheckNodePort"]
    for n in env.cluster.nodes:
        want = (200, 1) if n.name == home else (503, 0)
        got = eventually(lambda: (r := tries(n.ip, health)) and (r[0], json.loads(r[1])["localEndpoints"]),
                         timeout=60)
        assert got == want, (n.name, got)
    assert eventually(lambda: tries(home_ip, 8081), timeout=60) == (200, "beta 1")


def _tls_secret(env: Env, host: str) -> Path:
    """A TLS Secret `tls-alpha` for `host`, signed by a CA written to the workdir (returned)."""
    pem, key_pem, ca = server_certificate(host)
    env.apply({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "tls-alpha"}, "type": "kubernetes.io/tls",
               "data": {"tls.crt": base64.b64encode(pem).decode(), "tls.key": base64.b64encode(key_pem).decode()}})
    path = env.workdir / "ca.pem"
    path.write_bytes(ca)
    return path


def curl(env: Env, host: str, ip: str, path: str = "/", *extra: str) -> tuple[str, str]:
    """(status, body) of curl --resolve HOST:PORT:IP, http://HOST/PATH (or https with extras)."""
    scheme, port = ("https", 443) if "--cacert" in extra else ("http", 80)
    res = env.run("curl", "-s", "--max-time", "10", "--resolve", f"{host}:{port}:{ip}", *extra,
                  "-w", "\n%{http_code}", f"{scheme}://{host}{path}", check=False)
    body, _, code = res.stdout.rpartition("\n")
    return code, body.strip()


def test_ingress_routes_hosts_and_a_path_prefix_and_serves_tls(env: Env) -> None:
    ca = _tls_secret(env, "alpha.example")
    env.apply({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "beta-web"},
               "spec": {"selector": {"app": "beta"}, "ports": [{"name": "web", "port": 80, "targetPort": 8080}]}})
    env.apply({"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": {"name": "web"},
               "spec": {"tls": [{"hosts": ["alpha.example"], "secretName": "tls-alpha"}], "rules": [
                   {"host": "alpha.example", "http": {"paths": [
                       {"path": "/", "pathType": "Prefix",
                        "backend": {"service": {"name": "alpha", "port": {"number": 80}}}},
                       {"path": "/api", "pathType": "Prefix",
                        "backend": {"service": {"name": "beta-web", "port": {"name": "web"}}}}]}},
                   {"host": "beta.example", "http": {"paths": [
                       {"path": "/", "pathType": "Prefix",
                        "backend": {"service": {"name": "beta-web", "port": {"number": 80}}}}]}}]}})
    ing = json.loads(env.pyctl("get", "ingress", "web", "-o", "json").stdout)
    assert ing["spec"]["ingressClassName"] == "pyctl"  # the default class, filled in on create
    eventually(lambda: "," in env.pyctl("get", "ingress", "web").stdout.splitlines()[1], timeout=60)
    row = env.pyctl("get", "ingress", "web").stdout.splitlines()[1].split()
    assert row[:5] == ["web", "pyctl", "alpha.example,beta.example", ",".join(sorted(node_ips(env))), "80,"], row
    for ip in node_ips(env):
        assert eventually(lambda: curl(env, "alpha.example", ip) == ("200", "alpha 1"), timeout=60), ip
        assert curl(env, "beta.example", ip) == ("200", "beta 1")
        assert curl(env, "alpha.example", ip, "/api/hello") == ("200", "beta api")
        assert curl(env, "unknown.example", ip)[0] == "404"
        assert curl(env, "alpha.example", ip, "/", "--cacert", str(ca)) == ("200", "alpha 1")
    both = env.pyctl("get", "svc,ingress").stdout
    assert "service/beta " in both and "ingress.networking.k8s.io/web " in both, both
    described = env.pyctl("describe", "ingress", "web").stdout
    assert "tls-alpha terminates alpha.example" in described
    alpha_ips = sorted(p["status"]["podIP"] for p in env.ready_pods() if p["metadata"]["labels"]["app"] == "alpha")
    assert any(line.split()[:2] == ["/", "alpha:80"] and all(f"{ip}:8080" in line for ip in alpha_ips)
               for line in described.splitlines()), described
    assert "/api   beta-web:web" in " ".join(described.split("\n")) or "beta-web:web (" in described, described


def test_a_rolling_update_behind_the_ingress_drops_no_request(env: Env) -> None:
    ip = node_ips(env)[0]
    eventually(lambda: tries(ip, 80, "/", "alpha.example") == (200, "alpha 1"), timeout=60)
    results: list[str] = []
    stop = threading.Event()

    def load() -> None:
        # Bounded: at most 20000 requests and 240 s, each on a new connection, to one node's
        # address on the cluster bridge, until the rollout is over and the old pods are gone.
        deadline = time.monotonic() + 240
        while not stop.is_set() and len(results) < 20000 and time.monotonic() < deadline:
            try:
                code, body = get(ip, 80, "/", "alpha.example")
                results.append(f"{code} {body}")
            except OSError as exc:
                results.append(f"error {exc!r}")

    client = threading.Thread(target=load, name="ingress-load")
    client.start()
    try:
        env.apply(app("alpha", version="2"))
        env.pyctl("rollout", "status", "deployment/alpha", "--timeout=180s", timeout=200)
        eventually(lambda: all(p["spec"]["containers"][0]["env"][0]["value"] == "2" for p in env.all_pods()
                               if p["metadata"]["labels"].get("app") == "alpha"), timeout=120)
        time.sleep(2)  # what the last old pod answered, it answered before it went
    finally:
        stop.set()
        client.join()
    failed = [r for r in results if r not in ("200 alpha 1", "200 alpha 2")]
    assert not failed, f"{len(failed)} of {len(results)} requests failed: {failed[:5]}"
    assert "200 alpha 1" in results and results[-1] == "200 alpha 2", results[-3:]
