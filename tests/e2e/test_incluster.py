"""Workloads that talk to the API and to each other, in a real 2-node `pyctl cluster up` cluster
(secure: TLS, RBAC, node certificates; runc pods in each node's network namespace):

* the `default/kubernetes` Service lists the API server, and pods reach it by its ClusterIP;
* the official Python client, kr8s and kubectl, run inside a pod, read the projected
  ServiceAccount volume and the KUBERNETES_SERVICE_* variables, list pods with a Role that
  allows it, and are refused with Kubernetes' 403 without one;
* the demo image: `wget -T` by a Service's name, and a scale-down that does not wait out the
  30 s grace period (PID 1 stops on SIGTERM);
* NetworkPolicy: the canonical default-deny + allow-from-frontend across the two nodes, with
  real TCP connections (allowed ones answer, denied ones time out within a bounded wait),
  and an egress ipBlock.

Every connection goes only between the cluster's own namespaces and its bridge; each wait is
bounded. The cluster is removed afterwards (`pyctl cluster down`).
"""

from __future__ import annotations

import asyncio
import base64
import ipaddress
import json
import os
import shutil
import subprocess
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import pytest

from pyctl.localcluster import state
from pyctl.localcluster.state import Cluster
from tests.cluster import wait_until

from ..integration.kubectl import kubectl_binary
from .clientimage import clients_image

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("runc") or not shutil.which("conmon")
                       or not shutil.which("docker-registry"),
                       reason="needs root, runc, conmon and docker-registry"),
]

DEMO = "localhost:5000/pyctl/demo:1.0"
CLIENTS = "localhost:5000/pyctl-test/clients:1"
PAGE = "<h1>pyctl demo</h1>\n"
FORBIDDEN = ('pods is forbidden: User "system:serviceaccount:team:lister" cannot list resource "pods" '
             'in API group "" in the namespace "team"')


@dataclass
class Env:
    cluster: Cluster
    kubeconfig: str
    workdir: Path

    def run(self, *argv: str, check: bool = True, timeout: float = 120, stdin: str | None = None
            ) -> subprocess.CompletedProcess[str]:
        res = subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout, input=stdin,
                             env={**os.environ, "PYCTL_CONFIG": self.kubeconfig, "KUBECONFIG": self.kubeconfig,
                                  "HOME": str(self.workdir)})
        if check and res.returncode != 0:
            raise AssertionError(f"{' '.join(argv)} failed ({res.returncode}):\n{res.stdout}\n{res.stderr}")
        return res

    def kubectl(self, *args: str, check: bool = True, timeout: float = 120,
                stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        return self.run(kubectl_binary(), "--cache-dir", str(self.workdir / "cache"), *args, check=check,
                        timeout=timeout, stdin=stdin)

    def apply(self, *docs: dict[str, Any]) -> None:
        self.kubectl("apply", "-f", "-", stdin="\n---\n".join(json.dumps(d) for d in docs))

    def exec(self, ns: str, pod: str, *argv: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return self.kubectl("exec", "-n", ns, pod, "--", *argv, check=False, timeout=timeout)

    def get(self, *args: str) -> Any:
        return json.loads(self.kubectl("get", *args, "-o", "json").stdout)

    def node(self, i: int) -> str:
        return f"{self.cluster.name}-node-{i}"


def eventually(predicate, timeout: float = 120.0):  # type: ignore[no-untyped-def]
    return asyncio.run(wait_until(predicate, timeout, interval=0.5))


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    name = "ic" + uuid.uuid4().hex[:6]
    workdir = tmp_path_factory.mktemp("incluster")
    e = Env(None, str(workdir / "config"), workdir)  # type: ignore[arg-type]
    try:
        e.run(sys.executable, "-m", "pyctl", "cluster", "up", "--name", name, "--nodes", "2", "--wait", "240s",
              timeout=280)
        e.cluster = state.load(name)  # type: ignore[assignment]
        yield e
    finally:
        if state.load(name) is not None:
            e.run(sys.executable, "-m", "pyctl", "cluster", "down", "--name", name, check=False, timeout=240)


def pod(name: str, namespace: str, image: str = DEMO, node: str = "", labels: dict[str, str] | None = None,
        **spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"terminationGracePeriodSeconds": 1,
                            "containers": [{"name": "c", "image": image,
                                            "ports": [{"name": "http", "containerPort": 8080}]}], **spec}
    if node:
        body["nodeName"] = node
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": namespace,
                                                             "labels": labels or {}}, "spec": body}


def namespace(name: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}


def ready(env: Env, ns: str, *names: str, timeout: float = 180) -> None:
    env.kubectl("wait", "-n", ns, "--for=condition=Ready", *(f"pod/{n}" for n in names),
                f"--timeout={int(timeout)}s", timeout=timeout + 30)


def push_clients(env: Env) -> None:
    from agent.images.build import push_image
    from agent.images.registry import RegistryClient

    async def push() -> None:
        client = RegistryClient(auth_file="/nonexistent", mirrors={state.IMAGE_HOST: f"http://{env.cluster.registry}"})
        try:
            await push_image(client, CLIENTS, clients_image())
        finally:
            await client.close()
    asyncio.run(push())


# -- the API from pods -----------------------------------------------------------------------------

def test_the_kubernetes_service_lists_the_api_server(env: Env) -> None:
    c = env.cluster
    svc = env.get("service", "kubernetes", "-n", "default")
    assert svc["spec"]["clusterIP"] == str(ipaddress.ip_network(c.service_cidr)[1])
    ep = env.get("endpoints", "kubernetes", "-n", "default")
    assert ep["subsets"] == [{"addresses": [{"ip": c.host_ip}],
                              "ports": [{"name": "https", "port": c.api_port, "protocol": "TCP"}]}]
    slice_ = env.get("endpointslice", "kubernetes", "-n", "default")
    assert slice_["endpoints"][0]["addresses"] == [c.host_ip]


def test_in_cluster_clients_list_pods_with_a_role_and_are_refused_without(env: Env) -> None:
    push_clients(env)
    account = {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "lister", "namespace": "team"}}
    env.apply(namespace("team"), account)
    eventually(lambda: env.kubectl("get", "configmap", "kube-root-ca.crt", "-n", "team", check=False).returncode == 0,
               timeout=60)
    # One pod per node: the API is reached from both through the kubernetes Service.
    env.apply(pod("clients-1", "team", CLIENTS, env.node(1), serviceAccountName="lister"),
              pod("clients-2", "team", CLIENTS, env.node(2), serviceAccountName="lister"),
              pod("sealed", "team", CLIENTS, env.node(1), serviceAccountName="lister",
                  automountServiceAccountToken=False))
    ready(env, "team", "clients-1", "clients-2", "sealed")

    mount = "/var/run/secrets/kubernetes.io/serviceaccount"
    files = env.exec("team", "clients-1", "sh", "-c", f"cat {mount}/namespace; echo; cat {mount}/token; echo; "
                     f"grep -c BEGIN {mount}/ca.crt; env | grep ^KUBERNETES_SERVICE_ | sort").stdout.split("\n")
    assert files[0] == "team" and files[2] == "1"
    payload = files[1].split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    assert claims["sub"] == "system:serviceaccount:team:lister"
    assert claims["kubernetes.io"]["pod"]["name"] == "clients-1"
    assert claims["kubernetes.io"]["node"]["name"] == env.node(1)
    assert files[3:5] == [f"KUBERNETES_SERVICE_HOST={ipaddress.ip_network(env.cluster.service_cidr)[1]}",
                          "KUBERNETES_SERVICE_PORT=443"]
    assert env.exec("team", "sealed", "ls", mount).returncode != 0  # automountServiceAccountToken: false

    def clients(pod_name: str) -> dict[str, Any]:
        out = {name: json.loads(env.exec("team", pod_name, "python3", "/opt/clients/check.py", name,
                                         "team", timeout=120).stdout or "{}")
               for name in ("official", "kr8s")}
        k = env.exec("team", pod_name, "kubectl", "get", "pods", "-n", "team", "-o", "name")
        out["kubectl"] = {"pods": sorted(n.removeprefix("pod/") for n in k.stdout.split())} if k.returncode == 0 \
            else {"status": 403, "message": k.stderr.splitlines()[0].removeprefix("Error from server (Forbidden): ")}
        return out

    refused = {"status": 403, "message": FORBIDDEN}
    assert clients("clients-1") == {"official": refused, "kr8s": refused, "kubectl": refused}

    role = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
            "metadata": {"name": "pod-reader", "namespace": "team"},
            "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch"]}]}
    binding = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
               "metadata": {"name": "lister-reads-pods", "namespace": "team"},
               "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "pod-reader"},
               "subjects": [{"kind": "ServiceAccount", "name": "lister", "namespace": "team"}]}
    env.apply(role, binding)
    listed = {"pods": ["clients-1", "clients-2", "sealed"]}
    for p in ("clients-1", "clients-2"):
        assert clients(p) == {"official": listed, "kr8s": listed, "kubectl": listed}, p


# -- the demo image -------------------------------------------------------------------------------

def test_wget_by_service_name_and_a_scale_down_well_within_the_grace_period(env: Env) -> None:
    labels = {"app": "myapp"}
    deployment = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "myapp", "namespace": "demo"},
                  "spec": {"replicas": 2, "selector": {"matchLabels": labels},
                           "template": {"metadata": {"labels": labels}, "spec": {  # the default 30 s grace
                               "containers": [{"name": "web", "image": DEMO}]}}}}
    service = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "myapp", "namespace": "demo"},
               "spec": {"selector": labels, "ports": [{"port": 80, "targetPort": 8080}]}}
    env.apply(namespace("demo"), deployment, service, pod("client", "demo"))
    ready(env, "demo", "client")
    env.kubectl("rollout", "status", "-n", "demo", "deployment/myapp", "--timeout=180s", timeout=200)

    def answered() -> bool:
        got = env.exec("demo", "client", "wget", "-T", "5", "-q", "-O", "-", "http://myapp/")
        return got.returncode == 0 and got.stdout == PAGE
    eventually(answered, timeout=60)  # until the endpoints reached the node's proxy

    def running() -> list[str]:
        return [p["metadata"]["name"] for p in env.get("pods", "-n", "demo", "-l", "app=myapp")["items"]]
    assert len(running()) == 2
    env.kubectl("scale", "-n", "demo", "deployment/myapp", "--replicas=1")
    # Gone (not merely Terminating) well before the 30 s grace would run out: PID 1 took TERM.
    eventually(lambda: len(running()) == 1, timeout=20)


# -- NetworkPolicy ----------------------------------------------------------------------------------

def test_default_deny_and_allow_from_frontend_across_nodes(env: Env) -> None:
    env.apply(namespace("np"),
              pod("backend", "np", node=env.node(1), labels={"app": "backend"}),
              pod("frontend", "np", node=env.node(2), labels={"role": "frontend"}),
              pod("other", "np", node=env.node(2), labels={"role": "other"}),
              pod("neighbour", "np", node=env.node(1), labels={"role": "other"}),
              {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "backend", "namespace": "np"},
               "spec": {"selector": {"app": "backend"}, "ports": [{"port": 80, "targetPort": 8080}]}})
    ready(env, "np", "backend", "frontend", "other", "neighbour")
    backend_ip = env.get("pod", "backend", "-n", "np")["status"]["podIP"]
    targets = (f"http://{backend_ip}:8080/", "http://backend/")

    def reaches(client: str, url: str) -> bool:
        got = env.exec("np", client, "wget", "-T", "3", "-q", "-O", "-", url, timeout=30)
        return got.returncode == 0 and got.stdout == PAGE

    for client in ("frontend", "other", "neighbour"):  # open before any policy
        for url in targets:
            eventually(lambda: reaches(client, url), timeout=60)

    deny = {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
            "metadata": {"name": "default-deny-ingress", "namespace": "np"},
            "spec": {"podSelector": {}, "policyTypes": ["Ingress"]}}
    allow = {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
             "metadata": {"name": "allow-from-frontend", "namespace": "np"},
             "spec": {"podSelector": {"matchLabels": {"app": "backend"}},
                      "ingress": [{"from": [{"podSelector": {"matchLabels": {"role": "frontend"}}}],
                                   "ports": [{"protocol": "TCP", "port": "http"}]}]}}
    env.apply(deny, allow)
    table = env.kubectl("get", "networkpolicies", "-n", "np").stdout.split("\n")
    assert table[0].split() == ["NAME", "POD-SELECTOR", "AGE"]
    # Denied: from the other node and from the backend's own node (bridged), to the pod and
    # through the Service; each attempt gives up after 3 s.
    for client in ("other", "neighbour"):
        for url in targets:
            eventually(lambda: not reaches(client, url), timeout=30)
    for url in targets:  # the frontend, on the other node, still gets through, also via the ClusterIP
        assert reaches("frontend", url), url

    env.kubectl("delete", "networkpolicy", "-n", "np", "default-deny-ingress", "allow-from-frontend")
    for url in targets:  # no policy left: open again
        eventually(lambda: reaches("neighbour", url), timeout=30)


def test_egress_to_an_ip_block_with_an_exception_and_a_port_range(env: Env) -> None:
    env.apply(namespace("out"),
              pod("near", "out", node=env.node(1), labels={"app": "near"}),
              pod("far", "out", node=env.node(2), labels={"app": "far"}),
              pod("client", "out", node=env.node(2), labels={"role": "client"}),
              {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "far", "namespace": "out"},
               "spec": {"selector": {"app": "far"}, "ports": [{"port": 80, "targetPort": 8080}]}})
    ready(env, "out", "near", "far", "client")
    near, far = (env.get("pod", n, "-n", "out")["status"]["podIP"] for n in ("near", "far"))

    def reaches(url: str) -> bool:
        got = env.exec("out", "client", "wget", "-T", "3", "-q", "-O", "-", url, timeout=30)
        return got.returncode == 0 and got.stdout == PAGE

    def api_reachable() -> bool:  # the kubernetes Service: the API server, outside the pod network
        return env.exec("out", "client", "sh", "-c", "echo | timeout 3 nc $KUBERNETES_SERVICE_HOST 443", timeout=30).returncode == 0

    for url in (f"http://{near}:8080/", f"http://{far}:8080/", "http://far/"):
        eventually(lambda: reaches(url), timeout=60)
    assert api_reachable()
    node1_cidr = env.get("node", env.node(1))["spec"]["podCIDR"]
    env.apply({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
               "metadata": {"name": "client-egress", "namespace": "out"},
               "spec": {"podSelector": {"matchLabels": {"role": "client"}}, "policyTypes": ["Egress"],
                        "egress": [{"to": [{"ipBlock": {"cidr": "10.0.0.0/8", "except": [node1_cidr]}}],
                                    "ports": [{"port": 8000, "endPort": 9000}]}]}})
    eventually(lambda: not api_reachable(), timeout=30)           # outside 10/8
    eventually(lambda: not reaches(f"http://{near}:8080/"), timeout=30)  # the excepted podCIDR
    assert reaches(f"http://{far}:8080/")  # in 10/8, port 8080 within 8000-9000
    assert reaches("http://far/")  # a Service port 80: the policy sees the backend's 8080 after DNAT
