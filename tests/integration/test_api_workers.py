"""`pyctl-controlplane --api-workers N`: N API server processes on one port, each with its own
watch cache. Every request here goes over a connection of its own, so consecutive requests land
on whichever worker the kernel hands the connection to: a client reads its own writes whichever
worker answers, usage reports and /metrics cover every worker, a SIGKILLed worker is restarted
while the others keep serving, and all of them go with the parent.

The control plane is the real binary against a real etcd."""

from __future__ import annotations

import asyncio
import glob
import json
import os
import re
import signal
import ssl
import tempfile
import time
from pathlib import Path

import aiohttp
import pytest

from pyctl_proto import node_pb2 as pb

from ..cluster import wait_until
from .crds import CRDS, widget, widget_crd
from .test_componentsproc import ControlPlane, alive, lease_holder

WORKERS = 3
PODS = "/api/v1/namespaces/default/pods"


@pytest.fixture
def started(etcd, tmp_path):
    planes: list[ControlPlane] = []

    def start(*extra: str) -> ControlPlane:
        planes.append(ControlPlane(etcd, tmp_path, "--api-workers", str(WORKERS), *extra))
        return planes[-1]
    yield start
    for p in planes:
        kids = p.children()
        p.stop()
        for kid in kids:  # the test failed half way: do not leave a child behind
            if alive(kid):
                os.kill(kid, signal.SIGKILL)


def url_of(cp: ControlPlane) -> str:
    args = list(cp.proc.args)  # type: ignore[arg-type]
    return "http://" + args[args.index("--listen") + 1]


def worker_pids(cp: ControlPlane) -> dict[int, int]:
    """Worker index -> pid, from the parent's log (the latest start of each)."""
    found = {int(i): int(pid) for i, pid in re.findall(r"API worker (\d+) \(pid (\d+)\) serving", cp.output())}
    return {i: pid for i, pid in found.items() if alive(pid)}


async def serving(cp: ControlPlane) -> dict[int, int]:
    async def up():
        assert cp.proc.poll() is None, cp.output()
        pids = worker_pids(cp)
        return pids if len(pids) == WORKERS - 1 else None
    return await wait_until(up, timeout=90, interval=0.2)


async def call(url: str, method: str, path: str, **kw) -> tuple[int, dict]:
    """One request on a fresh connection (so on any worker)."""
    async with aiohttp.ClientSession() as s, s.request(method, url + path, **kw) as r:
        body = await r.read()
        return r.status, (await r.json(content_type=None) if body[:1] == b"{" else {"text": body.decode()})


def pod(name: str) -> dict:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
            "spec": {"containers": [{"name": "c", "image": "pyctl/demo:1.0"}]}}


async def test_a_client_reads_its_writes_whichever_worker_answers(started):
    cp = started("--components", "apiserver")
    await serving(cp)
    url = url_of(cp)
    for i in range(40):
        status, created = await call(url, "POST", PODS, json=pod(f"p{i}"))
        assert status == 201, created
        status, got = await call(url, "GET", f"{PODS}/p{i}")
        assert status == 200 and got["metadata"]["resourceVersion"] == created["metadata"]["resourceVersion"], got
        status, patched = await call(url, "PATCH", f"{PODS}/p{i}", json={"metadata": {"labels": {"n": str(i)}}},
                                     headers={"Content-Type": "application/merge-patch+json"})
        assert status == 200, patched
        status, got = await call(url, "GET", f"{PODS}/p{i}")
        assert status == 200 and got["metadata"]["labels"] == {"n": str(i)}, got
        # A namespace made on one worker is usable at once on any other (admission reads the cache).
        ns = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": f"ns{i}"}}
        assert (await call(url, "POST", "/api/v1/namespaces", json=ns))[0] == 201
        status, body = await call(url, "POST", f"/api/v1/namespaces/ns{i}/pods", json=pod("x"))
        assert status == 201, body


async def test_a_watch_from_a_written_version_sees_what_follows_on_any_worker(started):
    cp = started("--components", "apiserver")
    await serving(cp)
    url = url_of(cp)
    for i in range(5):
        status, created = await call(url, "POST", PODS, json=pod(f"w{i}"))
        assert status == 201, created
        rv = created["metadata"]["resourceVersion"]
        async with aiohttp.ClientSession() as s, s.get(url + PODS, params={
                "watch": "1", "resourceVersion": rv, "fieldSelector": f"metadata.name=w{i}"}) as watch:
            assert watch.status == 200
            status, patched = await call(url, "PATCH", f"{PODS}/w{i}", json={"metadata": {"labels": {"v": "2"}}},
                                         headers={"Content-Type": "application/merge-patch+json"})
            assert status == 200, patched
            line = await asyncio.wait_for(watch.content.readline(), 30)
            event = json.loads(line)
            assert event["type"] == "MODIFIED" and event["object"]["metadata"]["labels"] == {"v": "2"}, event
            assert event["object"]["metadata"]["resourceVersion"] == patched["metadata"]["resourceVersion"]


async def test_a_killed_worker_is_restarted_while_the_others_serve(started):
    cp = started("--components", "apiserver")
    pids = await serving(cp)
    url = url_of(cp)
    os.kill(pids[1], signal.SIGKILL)
    # Meanwhile every request is answered by the workers left (the listening socket is shared).
    for i in range(30):
        status, body = await call(url, "POST", PODS, json=pod(f"during-{i}"))
        assert status == 201, body

    async def replaced():
        now = worker_pids(cp)
        return now if now.get(1) not in (None, pids[1]) and now.get(2) == pids[2] else None
    await wait_until(replaced, timeout=60, interval=0.2)
    assert "API worker 1 (pid %d) exited unexpectedly with signal SIGKILL" % pids[1] in cp.output()
    assert cp.proc.poll() is None
    # The new worker converges: every pod, whoever answers the list.
    for _ in range(10):
        status, listed = await call(url, "GET", PODS)
        assert status == 200
        assert {p["metadata"]["name"] for p in listed["items"]} >= {f"during-{i}" for i in range(30)}


async def test_usage_reports_and_metrics_cover_every_worker(started):
    cp = started("--components", "apiserver")
    await serving(cp)
    url = url_of(cp)
    node = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n1"}}
    assert (await call(url, "POST", "/api/v1/nodes", json=node))[0] == 201
    report = pb.NodeMetrics(node="n1", timestamp_unix_ms=int(time.time() * 1000), window_ms=10000,
                            usage=pb.ResourceUsage(cpu_nanocores=250_000_000, memory_working_set_bytes=1 << 30))
    status, body = await call(url, "POST", "/internal/metrics", data=pb.NodeMetricsBatch(nodes=[report])
                              .SerializeToString(), headers={"Content-Type": "application/x-protobuf"})
    assert status == 200, body

    async def everywhere():  # relayed in the background: soon every worker has it
        for _ in range(3 * WORKERS):
            status, got = await call(url, "GET", "/apis/metrics.k8s.io/v1beta1/nodes/n1")
            if status != 200:
                return False
            assert got["usage"] == {"cpu": "250m", "memory": "1Gi"}
        return True
    await wait_until(everywhere, timeout=30, interval=0.2)

    status, text = await call(url, "GET", "/metrics")
    assert status == 200
    for i in range(WORKERS):  # each worker's own process, labelled
        assert re.search(r'^process_cpu_seconds_total\{worker="%d"\} ' % i, text["text"], re.M), text["text"][:2000]
    assert "apiserver_request_total{" in text["text"]


async def test_workers_go_with_the_parent(started):
    cp = started("--components", "apiserver")
    pids = await serving(cp)
    cp.proc.send_signal(signal.SIGTERM)
    assert await asyncio.to_thread(cp.proc.wait, 60) == 0
    assert not any(alive(p) for p in pids.values())

    cp = started("--components", "apiserver")
    pids = await serving(cp)
    cp.proc.send_signal(signal.SIGKILL)
    await asyncio.to_thread(cp.proc.wait, 10)
    await wait_until(lambda: not any(alive(p) for p in pids.values()), timeout=30, interval=0.1)
    # Killed outright, it left its sockets' directory; the next server's start removes it.
    left = glob.glob(os.path.join(tempfile.gettempdir(), f"pyctl-api-{cp.proc.pid}-*"))
    assert len(left) == 1
    await serving(started("--components", "apiserver"))
    assert not os.path.exists(left[0])


async def test_the_components_metrics_reach_every_worker(started):
    cp = started()  # with the components process beside worker 0
    await serving(cp)

    async def complete():
        status, text = await call(url_of(cp), "GET", "/metrics")
        return status == 200 and "pyctl_components_process_cpu_seconds_total" in text["text"]
    for _ in range(3 * WORKERS):  # whichever worker answers
        await wait_until(complete, timeout=60, interval=0.5)


async def test_the_endpoint_lease_is_one_per_server_whatever_its_workers(started, client):
    cp = started("--components", "apiserver", "--advertise-address", "127.0.0.1")
    pids = await serving(cp)
    port = int(url_of(cp).rsplit(":", 1)[1])
    leases = "/apis/coordination.k8s.io/v1/namespaces/kube-system/leases?labelSelector=apiserver.pyctl.io/endpoint"

    async def holders() -> list[str]:
        status, found = await client.request("GET", leases)
        assert status == 200
        return [lease["spec"]["holderIdentity"] for lease in found["items"]]
    await wait_until(lambda: holders(), timeout=30)
    assert await holders() == [f"127.0.0.1:{port}"]
    os.kill(pids[1], signal.SIGKILL)  # a worker's death is not the server's: its lease stays
    await wait_until(lambda: len(worker_pids(cp)) == WORKERS - 1 and worker_pids(cp)[1] != pids[1], timeout=60)
    assert await holders() == [f"127.0.0.1:{port}"]
    cp.proc.send_signal(signal.SIGTERM)  # the server leaves: worker 0 hands its lease back
    assert await asyncio.to_thread(cp.proc.wait, 60) == 0

    async def gone() -> bool:
        return await holders() == []
    await wait_until(gone, timeout=30)


async def test_every_worker_serves_tls_and_knows_the_loopback_token(started, client, tmp_path):
    cp = started("--pki-dir", str(tmp_path / "pki"), "--authorization-mode", "RBAC")
    await serving(cp)
    # The components authenticate with the loopback token at whichever worker they reach.
    await wait_until(lambda: lease_holder(client), timeout=90)
    await wait_until(lambda: lease_holder(client, "pyctl-scheduler"), timeout=90)
    context = ssl.create_default_context(cafile=str(tmp_path / "pki" / "ca.crt"))
    url = url_of(cp).replace("http://", "https://")
    for _ in range(4 * WORKERS):  # each on a connection of its own: the handshake on every worker
        async with aiohttp.ClientSession() as s, s.get(url + "/version", ssl=context) as r:
            assert r.status == 200, await r.text()


async def test_a_crd_established_through_one_worker_is_served_by_every_worker(started):
    cp = started("--components", "apiserver")
    await serving(cp)
    url = url_of(cp)
    crd = widget_crd()
    status, body = await call(url, "POST", CRDS, json=crd)
    assert status == 201, body

    async def established_here() -> bool:
        status, got = await call(url, "GET", f"{CRDS}/{crd['metadata']['name']}")
        return status == 200 and any(c["type"] == "Established" and c["status"] == "True"
                                     for c in (got.get("status") or {}).get("conditions") or [])
    await wait_until(established_here, timeout=30)
    for i in range(6 * WORKERS):  # at once, on whichever worker: each serves the new kind
        status, body = await call(url, "POST", "/apis/example.com/v1/namespaces/default/widgets",
                                  json=widget(f"w{i}"))
        assert status == 201, body
