"""Persistent volumes on a real node, as root: the API server, scheduler, controllers and gateway
in this process, and `pyctl-agent --runtime runc` as a child process (so it can be SIGKILLed),
pulling busybox from a registry on loopback, its local volumes loop-mounted ext4 images.

Data safety is the point: what one pod wrote, the next pod on the claim reads; an agent killed
mid-write leaves the writer running and its data whole, and a restarted agent finds the volume
as it was (a volume unmounted as a reboot would leave it is mounted again, never formatted);
a Retain claim's data outlives the claim, a Delete claim's directory goes with it.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any, AsyncIterator

import pytest

from agent.images.build import busybox_image
from agent.ingress.proxy import IngressProxy
from agent.network.netns import mounts_under
from agent.runtime.runc import RuncRuntime
from controlplane.components import ComponentsConfig, run_components
from controlplane.controllers.manager import ManagerConfig

from ..cluster import free_port, wait_until
from ..integration.test_images import push, registry  # noqa: F401 (fixture)
from .test_exec import FAST
from .test_runtime import Node, node, pytestmark  # noqa: F401  (the fixture and the root/runc skip)

NS = "/api/v1/namespaces/default"
ROOT = Path(__file__).resolve().parents[2]


class AgentProcess:
    """`pyctl-agent` for the test's node, in a child process the test may kill outright."""

    def __init__(self, node: Node, gateway: str, state: Path, name: str = "e1") -> None:
        self.argv = [sys.executable, "-m", "agent", "--server", gateway, "--node-name", name,
                     "--runtime", "runc", "--state-dir", str(state), "--node-ip", "127.0.0.1",
                     "--agent-listen", "127.0.0.1:0", "--pod-cidr", node.cidr, "--bridge", node.bridge,
                     "--cgroup-parent", node.cgroup_parent, "--no-routes", "--no-service-proxy",
                     "--no-cluster-dns", "--volume-enforcement", "loop", "--volume-capacity", "1Gi",
                     "--registry-auth", str(state.parent / "auth.json")]
        self.state = state
        self.log = state.parent / "agent.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with open(self.log, "ab") as out:
            # setpriv: the kernel kills the agent if this test process dies first.
            self.proc = subprocess.Popen(["setpriv", "--pdeathsig", "KILL", "--", *self.argv], cwd=ROOT,
                                         stdout=out, stderr=subprocess.STDOUT,
                                         env={**os.environ, "PYTHONPATH": str(ROOT)})

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(30)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.kill()

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-4000:] if self.log.exists() else ""


async def _leave_nothing(node: Node, state: Path) -> None:
    """What the agent process made: its pods (by the runtime's own ids), its ingress HAProxy
    (which outlives an agent by design, and a SIGTERM ends the agent without its cleanup), then
    its mounts (the loop volumes: autoclear frees their devices), then anything still backed by
    an image here."""
    await IngressProxy(state / "ingress").stop()
    rt = RuncRuntime(state / "runtime", node.net, lambda image, policy: ([], {}), cgroup_parent=node.cgroup_parent)
    for rp in await rt.list_pods():
        await rt.stop_pod(rp.uid, 0)
    for target in mounts_under(state):
        subprocess.run(["umount", "-l", target], capture_output=True)
    for image in state.rglob("*.ext4"):
        out = subprocess.run(["losetup", "-j", str(image)], capture_output=True, text=True).stdout
        for line in out.splitlines():
            subprocess.run(["losetup", "-d", line.partition(":")[0]], capture_output=True)


@pytest.fixture
async def cluster(api, client, node: Node, registry, tmp_path) -> AsyncIterator[dict[str, Any]]:  # noqa: F811
    image = f"{registry.host}/e2e/box:1"
    await push(image, busybox_image())
    port = free_port()
    running = await run_components(api.url, {"scheduler", "controllers", "gateway"}, ComponentsConfig(
        controllers=ManagerConfig(leader_election=False), gateway_listen=f"127.0.0.1:{port}", gateway=FAST))
    agent = AgentProcess(node, f"127.0.0.1:{port}", tmp_path / "agent")
    agent.start()
    try:
        async def ready() -> bool:
            code, n = await client.request("GET", "/api/v1/nodes/e1")
            return code == 200 and any(c["type"] == "Ready" and c["status"] == "True"
                       for c in (n.get("status") or {}).get("conditions") or [])
        await wait_until(ready, timeout=60)
        yield {"client": client, "image": image, "agent": agent, "volumes": tmp_path / "agent" / "volumes"}
    except AssertionError:
        raise AssertionError(f"agent log:\n{agent.tail()}") from None
    finally:
        agent.stop()
        await running.stop()
        await _leave_nothing(node, tmp_path / "agent")


def claim(name: str, size: str = "64Mi", storage_class: str | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": size}}}
    if storage_class is not None:
        spec["storageClassName"] = storage_class
    return {"metadata": {"name": name}, "spec": spec}


def pod(name: str, image: str, script: str, claims: dict[str, str], **spec: Any) -> dict[str, Any]:
    """A busybox pod mounting each claim (volume name -> claim) at /<volume name>."""
    return {"metadata": {"name": name}, "spec": {
        "terminationGracePeriodSeconds": 1, **spec,
        "volumes": [{"name": v, "persistentVolumeClaim": {"claimName": c}} for v, c in claims.items()],
        "containers": [{"name": "c", "image": image, "command": ["sh", "-c", script],
                        "volumeMounts": [{"name": v, "mountPath": f"/{v}"} for v in claims]}]}}


async def create(client, kind: str, body: dict[str, Any]) -> dict[str, Any]:
    status, created = await client.request("POST", f"{NS}/{kind}", body)
    assert status == 201, created
    return created


async def get(client, path: str) -> dict[str, Any]:
    _, body = await client.request("GET", path)
    return body


async def phase(client, name: str) -> str:
    code, body = await client.request("GET", f"{NS}/pods/{name}")
    return body["status"].get("phase", "") if code == 200 else ""


async def logs(client, name: str) -> str:
    _, text = await client.request("GET", f"{NS}/pods/{name}/log")
    return text if isinstance(text, str) else json.dumps(text)


async def _logged(client, name: str) -> str:
    text = await logs(client, name)
    return text if text.strip() and '"kind"' not in text else ""


async def delete_and_wait(client, path: str, timeout: float = 60) -> None:
    status, _ = await client.request("DELETE", path)
    assert status in (200, 202, 404)

    async def gone() -> bool:
        return (await client.request("GET", path))[0] == 404
    await wait_until(gone, timeout=timeout)


async def bound_volume(client, claim_name: str) -> dict[str, Any]:
    async def bound() -> dict[str, Any] | None:
        pvc = await get(client, f"{NS}/persistentvolumeclaims/{claim_name}")
        return pvc if (pvc.get("status") or {}).get("phase") == "Bound" else None
    pvc = await wait_until(bound, timeout=60)
    return await get(client, f"/api/v1/persistentvolumes/{pvc['spec']['volumeName']}")


async def test_data_outlives_its_pod_and_a_sigkilled_agent(cluster) -> None:
    client, image, agent = cluster["client"], cluster["image"], cluster["agent"]
    await create(client, "persistentvolumeclaims", claim("data"))
    writer = "echo hello > /data/greeting && sync && df -k /data | tail -1 && sleep 3600"
    await create(client, "pods", pod("first", image, writer, {"data": "data"}))
    await wait_until(lambda: _running(client, "first"), timeout=90)
    pv = await bound_volume(client, "data")
    path = Path(pv["spec"]["local"]["path"])
    assert path.parent == cluster["volumes"] and os.path.ismount(path)  # its own ext4, loop-mounted
    assert (path / "greeting").read_text() == "hello\n"
    df = await wait_until(lambda: _logged(client, "first"), timeout=30)
    size_kib = int(df.split()[1])
    assert 64 * 1024 <= size_kib < 80 * 1024  # at least what was asked, enforced by its filesystem
    record = json.loads((cluster["volumes"] / ".pyctl" / f"{pv['metadata']['name']}.json").read_text())
    assert record["claim"] == "default/data" and record["capacity_bytes"] == 64 * 2**20

    await delete_and_wait(client, f"{NS}/pods/first")
    assert (path / "greeting").read_text() == "hello\n"  # the pod went, the data stayed
    counter = ("cat /data/greeting; i=0; while true; do echo $i >> /data/count; sync; i=$((i+1)); "
               "sleep 0.02; done")
    await create(client, "pods", pod("second", image, counter, {"data": "data"}))
    await wait_until(lambda: _running(client, "second"), timeout=90)
    await wait_until(lambda: (path / "count").exists() and len((path / "count").read_text().split()) > 20,
                     timeout=30)
    assert (await wait_until(lambda: _logged(client, "second"))).startswith("hello")  # the next pod reads it

    agent.kill()  # mid-write: the container goes on writing, conmon keeps it
    during = len((path / "count").read_text().split())
    await wait_until(lambda: len((path / "count").read_text().split()) > during + 20, timeout=30)
    agent.start()

    async def agent_back() -> bool:
        _, events = await client.request("GET", f"{NS}/events")
        return sum(e["reason"] == "Started" and e["involvedObject"]["name"] == "second"
                   for e in events["items"]) == 1 and await _running(client, "second")
    await wait_until(agent_back, timeout=60)
    await asyncio.sleep(1)  # the restarted agent has synced the pod: nothing restarted, nothing formatted
    status = (await get(client, f"{NS}/pods/second"))["status"]["containerStatuses"][0]
    assert status["restartCount"] == 0 and "running" in status["state"]
    assert os.path.ismount(path)
    assert json.loads((cluster["volumes"] / ".pyctl" / f"{pv['metadata']['name']}.json").read_text()) == record
    numbers = [int(n) for n in (path / "count").read_text().split()]
    assert numbers == list(range(len(numbers))) and len(numbers) > during  # every write, in order
    assert (path / "greeting").read_text() == "hello\n"

    # A reboot leaves the volume unmounted; the next agent mounts it again, data and all.
    await delete_and_wait(client, f"{NS}/pods/second")
    agent.kill()
    subprocess.run(["umount", str(path)], check=True)
    assert not os.path.ismount(path)
    agent.start()
    await create(client, "pods", pod("third", image, "cat /data/greeting; sleep 3600", {"data": "data"}))
    await wait_until(lambda: _running(client, "third"), timeout=90)
    assert os.path.ismount(path) and (await wait_until(lambda: _logged(client, "third"))).startswith("hello")


async def _running(client, name: str) -> bool:
    return await phase(client, name) == "Running"


async def test_retain_keeps_the_data_and_delete_removes_it(cluster) -> None:
    client, image = cluster["client"], cluster["image"]
    keep = {"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass", "metadata": {"name": "keep"},
            "provisioner": "pyctl.io/local-path", "reclaimPolicy": "Retain",
            "volumeBindingMode": "WaitForFirstConsumer"}
    status, body = await client.request("POST", "/apis/storage.k8s.io/v1/storageclasses", keep)
    assert status == 201, body
    await create(client, "persistentvolumeclaims", claim("kept", storage_class="keep"))
    await create(client, "persistentvolumeclaims", claim("dropped"))  # the default class: Delete
    await create(client, "pods", pod("both", image, "echo mine > /k/f; echo mine > /d/f; sync; sleep 3600",
                                     {"k": "kept", "d": "dropped"}))
    await wait_until(lambda: _running(client, "both"), timeout=90)
    kept, dropped = await bound_volume(client, "kept"), await bound_volume(client, "dropped")
    kept_path, dropped_path = Path(kept["spec"]["local"]["path"]), Path(dropped["spec"]["local"]["path"])
    images = cluster["volumes"] / ".pyctl"

    # In use: deleting the claims changes nothing until the pod is gone (pvc-protection).
    for name in ("kept", "dropped"):
        assert (await client.request("DELETE", f"{NS}/persistentvolumeclaims/{name}"))[0] == 200
    await asyncio.sleep(1)
    assert (await get(client, f"{NS}/persistentvolumeclaims/dropped"))["metadata"]["deletionTimestamp"]
    assert (dropped_path / "f").read_text() == "mine\n"

    await delete_and_wait(client, f"{NS}/pods/both")
    await wait_until(lambda: _gone(client, f"{NS}/persistentvolumeclaims/kept"), timeout=60)

    async def released() -> bool:
        pv = await get(client, f"/api/v1/persistentvolumes/{kept['metadata']['name']}")
        return (pv.get("status") or {}).get("phase") == "Released"
    await wait_until(released, timeout=60)
    await wait_until(lambda: _gone(client, f"/api/v1/persistentvolumes/{dropped['metadata']['name']}"), timeout=60)
    assert not dropped_path.exists() and not (images / f"{dropped['metadata']['name']}.ext4").exists()
    assert not (images / f"{dropped['metadata']['name']}.json").exists()
    assert (kept_path / "f").read_text() == "mine\n" and os.path.ismount(kept_path)  # Retain: still there

    # The administrator deletes the Released volume: the object goes, the data stays on the node.
    await delete_and_wait(client, f"/api/v1/persistentvolumes/{kept['metadata']['name']}")
    await asyncio.sleep(1)
    assert (kept_path / "f").read_text() == "mine\n"


async def _gone(client, path: str) -> bool:
    return (await client.request("GET", path))[0] == 404


async def test_static_volumes_sub_paths_read_only_and_fs_group(cluster, tmp_path) -> None:
    client, image = cluster["client"], cluster["image"]
    host_dir, local_dir = tmp_path / "host", tmp_path / "static"
    local_dir.mkdir()
    (local_dir / "old").write_text("static\n")
    volumes = [
        {"metadata": {"name": "by-host-path"}, "spec": {
            "capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"], "storageClassName": "",
            "hostPath": {"path": str(host_dir), "type": "DirectoryOrCreate"},
            "claimRef": {"namespace": "default", "name": "hp"}}},
        {"metadata": {"name": "by-local-path", "labels": {"disk": "static"}}, "spec": {
            "capacity": {"storage": "2Gi"}, "accessModes": ["ReadWriteOnce"], "storageClassName": "",
            "local": {"path": str(local_dir)},
            "nodeAffinity": {"required": {"nodeSelectorTerms": [{"matchExpressions": [
                {"key": "kubernetes.io/hostname", "operator": "In", "values": ["e1"]}]}]}}}},
    ]
    for pv in volumes:
        status, body = await client.request("POST", "/api/v1/persistentvolumes", pv)
        assert status == 201, body
    await create(client, "persistentvolumeclaims", claim("hp", "1Gi", storage_class=""))
    static = claim("lp", "1Gi", storage_class="")
    static["spec"]["selector"] = {"matchLabels": {"disk": "static"}}
    await create(client, "persistentvolumeclaims", static)
    assert (await bound_volume(client, "hp"))["metadata"]["name"] == "by-host-path"
    assert (await bound_volume(client, "lp"))["metadata"]["name"] == "by-local-path"

    body = pod("mounts", image, "id -G; echo w > /work/new; echo x > /ro/x; cat /lp-all/old; sleep 3600",
               {"lp-all": "lp"}, securityContext={"fsGroup": 2345, "runAsUser": 1000})
    spec = body["spec"]
    spec["volumes"].append({"name": "hp", "persistentVolumeClaim": {"claimName": "hp", "readOnly": True}})
    spec["containers"][0]["env"] = [{"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}]
    spec["containers"][0]["volumeMounts"] += [
        {"name": "lp-all", "mountPath": "/work", "subPathExpr": "pods/$(POD)"},
        {"name": "hp", "mountPath": "/ro"}]
    await create(client, "pods", body)
    await wait_until(lambda: _running(client, "mounts"), timeout=90)
    out = await wait_until(lambda: _logged(client, "mounts"))
    assert "2345" in out.split("\n")[0].split()  # fsGroup is one of the process's groups
    assert "Read-only file system" in out and "static" in out
    assert (local_dir / "pods" / "mounts" / "new").read_text() == "w\n"  # subPathExpr, made in the volume
    assert host_dir.is_dir() and not (host_dir / "x").exists()  # DirectoryOrCreate; read-only
    st = os.stat(local_dir)
    assert st.st_gid == 2345 and st.st_mode & 0o2070 == 0o2070  # fsGroup: group, rw(x), setgid
    assert os.stat(local_dir / "old").st_gid == 2345

    # A local volume whose directory is missing: FailedMount, the pod waits in ContainerCreating.
    missing = {"metadata": {"name": "gone-dir"}, "spec": {
        "capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"], "storageClassName": "",
        "local": {"path": str(tmp_path / "nowhere")}, "claimRef": {"namespace": "default", "name": "nw"},
        "nodeAffinity": volumes[1]["spec"]["nodeAffinity"]}}
    assert (await client.request("POST", "/api/v1/persistentvolumes", missing))[0] == 201
    await create(client, "persistentvolumeclaims", claim("nw", "1Gi", storage_class=""))
    await bound_volume(client, "nw")
    await create(client, "pods", pod("waits", image, "sleep 3600", {"nw": "nw"}))

    async def failed_mount() -> dict[str, Any] | None:
        _, events = await client.request("GET", f"{NS}/events")
        return next((e for e in events["items"] if e["reason"] == "FailedMount"
                     and e["involvedObject"]["name"] == "waits"), None)
    event = await wait_until(failed_mount, timeout=60)
    assert event["type"] == "Warning" and event["message"] == (
        f'MountVolume.SetUp failed for volume "gone-dir" : path "{tmp_path / "nowhere"}" does not exist')
    waiting = (await get(client, f"{NS}/pods/waits"))["status"]["containerStatuses"][0]["state"]["waiting"]
    assert waiting["reason"] == "ContainerCreating"
    (tmp_path / "nowhere").mkdir()
    await wait_until(lambda: _running(client, "waits"), timeout=60)
    shutil.rmtree(host_dir, ignore_errors=True)


async def test_a_statefulset_keeps_each_ordinals_data(cluster) -> None:
    client, image = cluster["client"], cluster["image"]
    sts = {"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "db"}, "spec": {
        "serviceName": "db", "replicas": 2, "selector": {"matchLabels": {"app": "db"}},
        "template": {"metadata": {"labels": {"app": "db"}}, "spec": {
            "terminationGracePeriodSeconds": 1,
            "containers": [{"name": "c", "image": image, "command": [
                "sh", "-c", "[ -f /data/id ] || hostname > /data/id; sleep 3600"],
                "volumeMounts": [{"name": "data", "mountPath": "/data"}]}]}},
        "volumeClaimTemplates": [{"metadata": {"name": "data"}, "spec": {
            "accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "32Mi"}}}}]}}
    status, body = await client.request("POST", "/apis/apps/v1/namespaces/default/statefulsets", sts)
    assert status == 201, body
    paths = {}
    for i in range(2):  # one claim per ordinal, data-db-<i>, each its own volume
        await wait_until(lambda: _running(client, f"db-{i}"), timeout=120)
        paths[i] = Path((await bound_volume(client, f"data-db-{i}"))["spec"]["local"]["path"])
        await wait_until(lambda: (paths[i] / "id").exists(), timeout=30)
        assert (paths[i] / "id").read_text() == f"db-{i}\n"
    uid = (await get(client, f"{NS}/pods/db-1"))["metadata"]["uid"]
    assert (await client.request("DELETE", f"{NS}/pods/db-1"))[0] == 200

    async def replaced() -> bool:
        code, p = await client.request("GET", f"{NS}/pods/db-1")
        return code == 200 and p["metadata"]["uid"] != uid and p["status"].get("phase") == "Running"
    await wait_until(replaced, timeout=120)
    assert (await bound_volume(client, "data-db-1"))["spec"]["local"]["path"] == str(paths[1])
    assert (paths[1] / "id").read_text() == "db-1\n"  # the new db-1 found its predecessor's data
