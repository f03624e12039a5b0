"""Clients of the secured API server: kubectl, the kubernetes Python client, pyctl, the in-process
components, and pyctl-controlplane's own --pki-dir / --write-kubeconfig."""

from __future__ import annotations

import asyncio
import base64
import os
import stat
import sys
from pathlib import Path

import pytest
import yaml
from kubernetes import client as k8s

from agent.hollow import run_hollow_agents, stop_agents
from controlplane.auth.pki import new_ca
from controlplane.components import ComponentsConfig, run_components
from controlplane.controllers.manager import ManagerConfig

from ..cluster import free_port, stop_process as stop, wait_until
from .kubectl import Kubectl
from .secure_api import TOKENS, SecureApiServer, binding, call
from .test_pyctl import REPO, pyctl

DEPLOY = "/apis/apps/v1/namespaces/default/deployments"
CONFIGMAP = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\ndata:\n  a: '1'\n"


@pytest.fixture
async def secure_api(etcd, tmp_path):
    server = await SecureApiServer(etcd, tmp_path).start()
    async with server.session("admin") as admin:
        assert (await call(admin, "POST", *binding("viewers", "view", user="viewer")))[0] == 201
    yield server
    await server.stop()


def deployment(replicas: int) -> dict:
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "web"}},
                     "template": {"metadata": {"labels": {"app": "web"}},
                                  "spec": {"containers": [{"name": "c", "image": "web:1"}]}}}}


async def test_kubectl_over_https_with_a_token(secure_api, tmp_path):
    kubectl = Kubectl(secure_api.url, tmp_path)
    kubectl.config = secure_api.kubeconfig("viewer", tmp_path / "viewer.kubeconfig")
    out = await kubectl.ok("get", "pods")
    assert "No resources found in default namespace." in out or out == ""
    rc, out, err = await kubectl.run("create", "-f", "-", stdin=CONFIGMAP)
    assert rc == 1
    assert err.strip() == ('Error from server (Forbidden): error when creating "STDIN": configmaps is forbidden: '
                           'User "viewer" cannot create resource "configmaps" in API group "" in the namespace '
                           '"default"')
    assert (await kubectl.run("auth", "can-i", "create", "pods"))[1].strip() == "no"
    assert (await kubectl.ok("auth", "can-i", "list", "deployments.apps")).strip() == "yes"
    whoami = await kubectl.ok("auth", "whoami", "-o", "json")
    assert '"username": "viewer"' in whoami and '"system:authenticated"' in whoami
    kubectl.config = secure_api.kubeconfig("admin", tmp_path / "admin.kubeconfig")
    await kubectl.ok("create", "-f", "-", stdin=CONFIGMAP)
    assert "ClusterRole/view" in await kubectl.ok("get", "rolebindings")


async def test_official_python_client_over_https(secure_api):
    cfg = k8s.Configuration()
    cfg.host = secure_api.url
    cfg.ssl_ca_cert = str(secure_api.pki.ca_cert)
    cfg.api_key = {"authorization": TOKENS["viewer"]}
    cfg.api_key_prefix = {"authorization": "Bearer"}

    def flow() -> None:
        with k8s.ApiClient(cfg) as api_client:
            core = k8s.CoreV1Api(api_client)
            assert core.list_namespaced_pod("default").items == []
            with pytest.raises(k8s.ApiException) as denied:
                core.create_namespaced_config_map("default", {"metadata": {"name": "x"}})
            assert denied.value.status == 403
    await asyncio.to_thread(flow)


async def test_pyctl_with_token_and_ca_data_and_readable_failures(secure_api, tmp_path):
    config = secure_api.kubeconfig("viewer", tmp_path / "pyctl-config")
    r = await pyctl(None, "get", "pods", config=config)
    assert r.code == 0, r.err
    r = await pyctl(None, "create", "-f", "-", stdin=CONFIGMAP, config=config)
    assert r.code == 1
    assert r.err.strip() == ('error: STDIN (document 1): Error from server (Forbidden): configmaps is '
                             'forbidden: User "viewer" cannot create resource "configmaps" in API group "" in '
                             'the namespace "default"')
    r = await pyctl(None, "config", "set-credentials", "viewer", "--token=wrong", config=config)
    assert r.code == 0, r.err
    r = await pyctl(None, "get", "pods", config=config)
    assert (r.code, r.err.strip()) == (1, "error: You must be logged in to the server (Unauthorized)")
    stranger = base64.b64encode(new_ca("elsewhere").cert).decode()
    doc = yaml.safe_load(config.read_text())
    doc["clusters"][0]["cluster"]["certificate-authority-data"] = stranger
    config.write_text(yaml.safe_dump(doc))
    r = await pyctl(None, "get", "pods", config=config)
    assert r.code == 1 and len(r.err.strip().splitlines()) == 1
    assert r.err.startswith(f"error: cannot reach the API server at {secure_api.url}: TLS:"), r.err


async def test_components_converge_a_deployment_against_the_secured_api(secure_api):
    port = free_port()
    config = ComponentsConfig(controllers=ManagerConfig(leader_election=False), gateway_listen=f"127.0.0.1:{port}")
    running = await run_components(secure_api.url, {"scheduler", "controllers", "gateway"}, config)
    agents = await run_hollow_agents(f"127.0.0.1:{port}", ["node-a", "node-b"])
    try:
        async with secure_api.session("admin") as admin:
            assert (await call(admin, "POST", DEPLOY, deployment(3)))[0] == 201

            async def available():
                _, d = await call(admin, "GET", DEPLOY + "/web")
                return d.get("status", {}).get("availableReplicas") == 3
            await wait_until(available, timeout=60)
            _, pods = await call(admin, "GET", "/api/v1/namespaces/default/pods")
            assert {p["spec"]["nodeName"] for p in pods["items"]} <= {"node-a", "node-b"}
    finally:
        await stop_agents(agents)
        await running.stop()


async def test_controlplane_makes_pki_once_and_writes_an_admin_kubeconfig(etcd, tmp_path):
    pki, kubeconfig, port = tmp_path / "pki", tmp_path / "admin.kubeconfig", free_port()
    argv = [sys.executable, "-m", "controlplane", "--etcd-servers", etcd.url, "--listen", f"127.0.0.1:{port}",
            "--gateway-listen", f"127.0.0.1:{free_port()}", "--gateway-join-listen", f"127.0.0.1:{free_port()}",
            "--pki-dir", str(pki),
            "--authorization-mode", "RBAC", "--write-kubeconfig", str(kubeconfig)]

    async def start() -> asyncio.subprocess.Process:
        return await asyncio.create_subprocess_exec(
            *argv, cwd=str(REPO), env={**os.environ, "PYTHONPATH": str(REPO)},
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)

    async def namespaces_as_admin() -> str | None:
        r = await pyctl(None, "get", "namespaces", config=kubeconfig)
        return r.out if r.code == 0 else None

    proc = await start()
    try:
        await wait_until(lambda: kubeconfig.exists(), timeout=60)
        assert stat.S_IMODE((pki / "ca.key").stat().st_mode) == 0o600
        assert stat.S_IMODE(kubeconfig.stat().st_mode) == 0o600
        ca = (pki / "ca.crt").read_bytes()
        assert "kube-system" in await wait_until(namespaces_as_admin, timeout=60, interval=0.5)
        r = await pyctl(None, "get", "clusterroles", config=kubeconfig)
        assert "cluster-admin" in r.out and "view" in r.out
    finally:
        await stop(proc)
    proc = await start()  # a restart keeps the CA: the kubeconfig still works
    try:
        await wait_until(namespaces_as_admin, timeout=60, interval=0.5)
        assert (pki / "ca.crt").read_bytes() == ca
    finally:
        await stop(proc)


async def test_pyctl_config_commands_set_up_client_certificate_access(secure_api, tmp_path):
    config = tmp_path / "pyctl-config"
    cert, key = secure_api.client_cert("root", groups=("system:masters",))
    steps = [("set-cluster", "secure", f"--server={secure_api.url}",
              f"--certificate-authority={secure_api.pki.ca_cert}", "--embed-certs"),
             ("set-credentials", "root", f"--client-certificate={cert}", f"--client-key={key}"),
             ("set-context", "secure", "--cluster=secure", "--user=root"),
             ("use-context", "secure")]
    for step in steps:
        r = await pyctl(None, "config", *step, config=config)
        assert r.code == 0, r.err
    r = await pyctl(None, "get", "clusterrolebindings", config=config)
    assert r.code == 0 and "cluster-admin" in r.out, r.err
    # The CA is required: without it the server's certificate is not trusted ...
    doc = yaml.safe_load(config.read_text())
    doc["clusters"][0]["cluster"].pop("certificate-authority-data")
    config.write_text(yaml.safe_dump(doc))
    r = await pyctl(None, "get", "pods", config=config)
    assert r.code == 1 and len(r.err.strip().splitlines()) == 1, r.err
    assert "TLS: certificate verify failed: " in r.err and "certificate-authority(-data)" in r.err
    # ... unless verification is switched off.
    r = await pyctl(None, "config", "set-cluster", "secure", "--insecure-skip-tls-verify=true", config=config)
    assert r.code == 0, r.err
    r = await pyctl(None, "get", "pods", config=config)
    assert r.code == 0, r.err
