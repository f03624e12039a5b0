"""Operators and CRD-heavy clients against a real API server: a kopf operator (from PyPI) runs
its whole lifecycle on a custom kind, and the prometheus-operator CRDs of kube-prometheus apply
cleanly with the real kubectl."""

from __future__ import annotations

import asyncio
import gzip
import os
import sys
from pathlib import Path

import pytest

from .crds import create_crd, widget, widget_crd
from .kubectl import Kubectl, write_kubeconfig
from ..cluster import stop_process, wait_until

DATA = Path(__file__).resolve().parents[1] / "data"
W = "/apis/example.com/v1/namespaces/default/widgets"
CM = "/api/v1/namespaces/default/configmaps"


@pytest.fixture
async def operator(api, client, tmp_path):
    await create_crd(client, widget_crd())
    config = write_kubeconfig(tmp_path / "kubeconfig", api.url)
    log = open(tmp_path / "operator.log", "wb")
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "kopf", "run", "--standalone", "--namespace", "default",
        str(DATA / "operators" / "widgets.py"),
        stdout=log, stderr=asyncio.subprocess.STDOUT,
        env={**os.environ, "KUBECONFIG": str(config), "HOME": str(tmp_path)})
    yield proc
    await stop_process(proc, grace=10)
    log.close()
    if proc.returncode not in (0, -15):
        print((tmp_path / "operator.log").read_text()[-4000:])


async def test_a_kopf_operator_runs_its_lifecycle_on_a_custom_kind(operator, client):
    assert (await client.request("POST", W, widget("op", replicas=2)))[0] == 201

    async def reconciled():
        status, cm = await client.request("GET", f"{CM}/op-config")
        status2, obj = await client.request("GET", f"{W}/op")
        if status != 200 or (obj.get("status") or {}).get("phase") != "Ready":
            return None
        return cm, obj
    cm, obj = await wait_until(reconciled, timeout=60, interval=0.2)
    assert cm["data"] == {"size": "small", "replicas": "2"}
    (owner,) = cm["metadata"]["ownerReferences"]
    assert owner["kind"] == "Widget" and owner["uid"] == obj["metadata"]["uid"]
    assert obj["status"]["create_fn"] == {"configMap": "op-config"}  # kopf keeps handler results in status
    assert "widgets.example.com/operator" in obj["metadata"]["finalizers"]

    status, _ = await client.request("PATCH", f"{W}/op", {"spec": {"size": "large"}},
                                     headers={"Content-Type": "application/merge-patch+json"})
    assert status == 200

    async def updated():
        _, cm = await client.request("GET", f"{CM}/op-config")
        _, obj = await client.request("GET", f"{W}/op")
        return cm.get("data", {}).get("size") == "large" and obj["status"].get("phase") == "Updated"
    await wait_until(updated, timeout=60, interval=0.2)

    # Deletion waits for the operator's finalizer: its handler removes the ConfigMap first.
    assert (await client.request("DELETE", f"{W}/op"))[0] == 200

    async def gone():
        return (await client.request("GET", f"{W}/op"))[0] == 404
    await wait_until(gone, timeout=60, interval=0.2)
    assert (await client.request("GET", f"{CM}/op-config"))[0] == 404


async def test_the_prometheus_operator_crds_apply_cleanly_and_serve_their_objects(api, client, tmp_path):
    """kube-prometheus's own instructions: `kubectl apply --server-side -f manifests/setup`, wait
    for the CRDs to be Established, then the objects that use them."""
    crds = tmp_path / "setup"
    crds.mkdir()
    for packed in sorted((DATA / "kube-prometheus" / "crds").glob("*.yaml.gz")):
        (crds / packed.name.removesuffix(".gz")).write_bytes(gzip.decompress(packed.read_bytes()))
    kubectl = Kubectl(api.url, tmp_path)
    out = await kubectl.ok("apply", "--server-side", "-f", str(crds), timeout=240)
    assert out.count("serverside-applied") == 10, out
    out = await kubectl.ok("wait", "--for=condition=Established", "crd", "--all", "--timeout=60s")
    assert out.count("condition met") == 10
    out = await kubectl.ok("apply", "--server-side", "-f", str(DATA / "kube-prometheus" / "objects.yaml"))
    assert out.count("serverside-applied") == 9, out
    lines = (await kubectl.ok("get", "prometheus", "-n", "monitoring")).splitlines()
    assert lines[0].split()[:2] == ["NAME", "VERSION"] and lines[1].split()[0] == "k8s"
    assert len((await kubectl.ok("get", "servicemonitors", "-A", "-o", "name")).split()) == 4
    out = await kubectl.ok("explain", "prometheus.spec.storage.volumeClaimTemplate.spec.resources")
    assert "requests\t<map[string]Object>" in out or "requests\t<map[string]" in out
