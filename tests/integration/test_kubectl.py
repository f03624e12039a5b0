"""The real kubectl 1.37, default flags, against the API server: apply, get, watch, scale, delete."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from .kubectl import Kubectl

ROOT = Path(__file__).resolve().parents[2]
MANIFEST = ROOT / "manifests" / "deployment.yaml"


@pytest.fixture
def kubectl(api, tmp_path):
    return Kubectl(api.url, tmp_path)


async def test_client_side_apply_lifecycle(kubectl, tmp_path, client):
    assert (await kubectl.ok("apply", "-f", str(MANIFEST))).strip() == "deployment.apps/myapp created"
    assert (await kubectl.ok("apply", "-f", str(MANIFEST))).strip() == "deployment.apps/myapp unchanged"
    edited = tmp_path / "edited.yaml"
    edited.write_text(MANIFEST.read_text().replace("replicas: 3", "replicas: 4"))
    assert (await kubectl.ok("apply", "-f", str(edited))).strip() == "deployment.apps/myapp configured"
    _, dep = await client.request("GET", "/apis/apps/v1/namespaces/default/deployments/myapp")
    assert dep["spec"]["replicas"] == 4
    assert "kubectl.kubernetes.io/last-applied-configuration" in dep["metadata"]["annotations"]
    out = await kubectl.ok("scale", "deployment", "myapp", "--replicas=5")
    assert out.strip() == "deployment.apps/myapp scaled"
    _, dep = await client.request("GET", "/apis/apps/v1/namespaces/default/deployments/myapp")
    assert dep["spec"]["replicas"] == 5
    out = await kubectl.ok("delete", "-f", str(MANIFEST))
    assert 'deployment.apps "myapp" deleted' in out
    status, _ = await client.request("GET", "/apis/apps/v1/namespaces/default/deployments/myapp")
    assert status == 404


async def test_server_side_apply_and_conflict(kubectl, tmp_path):
    out = await kubectl.ok("apply", "--server-side", "-f", str(MANIFEST))
    assert out.strip() == "deployment.apps/myapp serverside-applied"
    await kubectl.ok("scale", "deployment", "myapp", "--replicas=7")
    rc, out, err = await kubectl.run("apply", "--server-side", "-f", str(MANIFEST))
    assert rc != 0 and "conflict" in (err + out).lower() and ".spec.replicas" in err + out
    out = await kubectl.ok("apply", "--server-side", "--force-conflicts", "-f", str(MANIFEST))
    assert "serverside-applied" in out


async def test_get_tables_and_output_formats(kubectl):
    await kubectl.ok("apply", "-f", str(MANIFEST))
    table = (await kubectl.ok("get", "deploy")).splitlines()
    assert table[0].split() == ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"]
    assert table[1].split()[0:2] == ["myapp", "0/3"]
    wide = (await kubectl.ok("get", "deploy", "-o", "wide")).splitlines()[0].split()
    assert wide[-3:] == ["CONTAINERS", "IMAGES", "SELECTOR"]
    assert "image: localhost:5000/pyctl/demo:1.0" in await kubectl.ok("get", "deploy", "myapp", "-o", "yaml")
    assert (await kubectl.ok("get", "deploy", "-o", "name")).strip() == "deployment.apps/myapp"
    ns = (await kubectl.ok("get", "ns")).splitlines()
    assert ns[0].split() == ["NAME", "STATUS", "AGE"] and any(l.startswith("default ") for l in ns)
    rc, out, err = await kubectl.run("get", "deploy", "nosuch")
    assert rc == 1 and 'Error from server (NotFound): deployments.apps "nosuch" not found' in err


def _pod(name: str) -> dict:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
            "spec": {"containers": [{"name": "c", "image": "busybox"}]}}


async def test_get_watch_prints_new_rows(kubectl, client):
    await client.request("POST", "/api/v1/namespaces/default/pods", _pod("first"))
    proc = await asyncio.create_subprocess_exec(
        *kubectl.argv("get", "pods", "-w"), stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "HOME": str(kubectl.cache.parent)})
    try:
        header = await asyncio.wait_for(proc.stdout.readline(), 30)
        assert header.split()[:3] == [b"NAME", b"READY", b"STATUS"]
        assert (await asyncio.wait_for(proc.stdout.readline(), 30)).split()[0] == b"first"
        # This row can only arrive through the watch that follows the list.
        await client.request("POST", "/api/v1/namespaces/default/pods", _pod("second"))
        line = await asyncio.wait_for(proc.stdout.readline(), 30)
        assert line.split()[0] == b"second" and b"Pending" in line
    finally:
        proc.kill()
        await proc.wait()
