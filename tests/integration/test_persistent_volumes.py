"""Persistent volumes through the whole control plane on hollow nodes: the API (defaults,
admission, validation), the binder, the protection controllers, the local-path provisioner, the
scheduler's VolumeBinding and the gateway's volume streams, as pyctl-controlplane runs them.

Three hollow nodes: `big` (10Gi of local storage), `small` (1Gi) and `none` (its agent keeps no
local volumes), so where a WaitForFirstConsumer claim's volume lands says which rule chose it.
"""

from __future__ import annotations

from typing import Any, AsyncIterator

import pytest

from agent.hollow import hollow_agent, stop_agents
from agent.node import Agent
from controlplane.components import ComponentsConfig, run_components
from controlplane.controllers.manager import ManagerConfig
from controlplane.gateway import GatewayConfig

from ..cluster import free_port, wait_until

NS = "/api/v1/namespaces/default"
PVS = "/api/v1/persistentvolumes"
SCS = "/apis/storage.k8s.io/v1/storageclasses"
NODES = {"big": 10 * 2**30, "small": 2**30, "none": None}


@pytest.fixture
async def cluster(api, client) -> AsyncIterator[dict[str, Agent]]:
    port = free_port()
    config = ComponentsConfig(controllers=ManagerConfig(leader_election=False), gateway_listen=f"127.0.0.1:{port}",
                              gateway=GatewayConfig(heartbeat_period=0.2, status_flush_interval=0.05))
    running = await run_components(api.url, {"scheduler", "controllers", "gateway"}, config)
    agents = {name: hollow_agent(f"127.0.0.1:{port}", name, i, volume_capacity=capacity).start()
              for i, (name, capacity) in enumerate(NODES.items())}
    try:
        async def ready() -> bool:
            _, nodes = await client.request("GET", "/api/v1/nodes")
            ok = [n for n in nodes["items"] if any(c["type"] == "Ready" and c["status"] == "True"
                                                   for c in n.get("status", {}).get("conditions", []))]
            code, _ = await client.request("GET", f"{SCS}/local-path")
            return len(ok) == len(NODES) and code == 200
        await wait_until(ready, timeout=30)
        yield agents
    finally:
        await stop_agents(list(agents.values()))
        await running.stop()


def claim(name: str, size: str = "1Gi", storage_class: str | None = None, **spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"metadata": {"name": name}, "spec": {
        "accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": size}}, **spec}}
    if storage_class is not None:
        body["spec"]["storageClassName"] = storage_class
    return body


def pod(name: str, *claims: str, **spec: Any) -> dict[str, Any]:
    return {"metadata": {"name": name}, "spec": {
        "containers": [{"name": "c", "image": "app:1",
                        "volumeMounts": [{"name": f"v{i}", "mountPath": f"/v{i}"} for i in range(len(claims))]}],
        "volumes": [{"name": f"v{i}", "persistentVolumeClaim": {"claimName": c}} for i, c in enumerate(claims)],
        **spec}}


def static_volume(name: str, size: str, storage_class: str = "", **spec: Any) -> dict[str, Any]:
    return {"metadata": {"name": name, "labels": spec.pop("labels", {})}, "spec": {
        "capacity": {"storage": size}, "accessModes": ["ReadWriteOnce"], "storageClassName": storage_class,
        "hostPath": {"path": f"/srv/{name}"}, **spec}}


async def make(client, path: str, body: dict[str, Any]) -> dict[str, Any]:
    status, created = await client.request("POST", path, body)
    assert status == 201, created
    return created


async def get(client, path: str) -> dict[str, Any]:
    return (await client.request("GET", path))[1]


async def bound(client, name: str) -> dict[str, Any]:
    async def check() -> dict[str, Any] | None:
        pvc = await get(client, f"{NS}/persistentvolumeclaims/{name}")
        return pvc if pvc.get("status", {}).get("phase") == "Bound" else None
    return await wait_until(check, timeout=30)


async def running_on(client, name: str) -> str:
    async def check() -> str:
        p = await get(client, f"{NS}/pods/{name}")
        return p["spec"].get("nodeName", "") if p.get("status", {}).get("phase") == "Running" else ""
    return await wait_until(check, timeout=30)


async def events(client, name: str) -> list[dict[str, Any]]:
    _, body = await client.request("GET", f"{NS}/events")
    return [e for e in body["items"] if e["involvedObject"]["name"] == name]


async def test_a_claim_gets_the_default_class_and_a_volume_where_its_first_pod_goes(cluster, client) -> None:
    created = await make(client, f"{NS}/persistentvolumeclaims", claim("data", "2Gi"))
    assert created["spec"]["storageClassName"] == "local-path"  # DefaultStorageClass
    assert created["metadata"]["finalizers"] == ["kubernetes.io/pvc-protection"]
    assert created["status"] == {"phase": "Pending"}
    await wait_until(lambda: _reason(client, "data", "WaitForFirstConsumer"), timeout=30)

    await make(client, f"{NS}/pods", pod("app", "data"))
    assert await running_on(client, "app") == "big"  # `small` has 1Gi, `none` no local storage
    pvc = await bound(client, "data")
    assert pvc["metadata"]["annotations"]["volume.kubernetes.io/selected-node"] == "big"
    assert pvc["status"]["capacity"] == {"storage": "2Gi"} and pvc["status"]["accessModes"] == ["ReadWriteOnce"]
    pv = await get(client, f"{PVS}/{pvc['spec']['volumeName']}")
    assert pv["spec"]["local"]["path"] == f"/var/lib/pyctl-hollow/volumes/pvc-{pvc['metadata']['uid']}"
    assert pv["spec"]["nodeAffinity"]["required"]["nodeSelectorTerms"][0]["matchExpressions"][0]["values"] == ["big"]
    assert pv["spec"]["claimRef"]["uid"] == pvc["metadata"]["uid"]
    assert pv["status"]["phase"] == "Bound" and pv["spec"]["persistentVolumeReclaimPolicy"] == "Delete"
    assert cluster["big"].local_volumes.kept == {pv["metadata"]["name"]: 2 * 2**30}  # the node made it
    story = [e["reason"] for e in sorted(await events(client, "data"), key=lambda e: e["eventTime"])]
    assert {"WaitForFirstConsumer", "ExternalProvisioning", "Provisioning", "ProvisioningSucceeded"} <= set(story)

    # A second pod on the claim goes where the volume is, whatever else would fit.
    await make(client, f"{NS}/pods", pod("again", "data"))
    assert await running_on(client, "again") == "big"

    # Deleting the claim waits for its pods (pvc-protection); then the volume and its data go.
    assert (await client.request("DELETE", f"{NS}/persistentvolumeclaims/data"))[0] == 200
    assert (await get(client, f"{NS}/persistentvolumeclaims/data"))["metadata"]["deletionTimestamp"]
    for name in ("app", "again"):
        assert (await client.request("DELETE", f"{NS}/pods/{name}"))[0] == 200

    async def all_gone() -> bool:
        claim_code, _ = await client.request("GET", f"{NS}/persistentvolumeclaims/data")
        volume_code, _ = await client.request("GET", f"{PVS}/{pv['metadata']['name']}")
        return claim_code == volume_code == 404
    await wait_until(all_gone, timeout=30)
    assert cluster["big"].local_volumes.deleted == [pv["metadata"]["name"]]


async def _reason(client, name: str, reason: str) -> bool:
    return any(e["reason"] == reason for e in await events(client, name))


async def test_no_node_with_room_says_so_and_a_claim_promised_to_a_node_keeps_its_pod_there(cluster, client) -> None:
    await make(client, f"{NS}/persistentvolumeclaims", claim("huge", "50Gi"))
    await make(client, f"{NS}/pods", pod("greedy", "huge"))

    async def unschedulable() -> str:
        p = await get(client, f"{NS}/pods/greedy")
        return next((c["message"] for c in p.get("status", {}).get("conditions", [])
                     if c["type"] == "PodScheduled" and c["status"] == "False"), "")
    assert await wait_until(unschedulable, timeout=30) == \
        "0/3 nodes are available: 3 node(s) did not have enough free storage."

    # A claim already given a node (a scheduler that stopped after writing it) takes its pod
    # there, although `big` has more room.
    promised = claim("promised", "512Mi")
    promised["metadata"]["annotations"] = {"volume.kubernetes.io/selected-node": "small"}
    await make(client, f"{NS}/persistentvolumeclaims", promised)
    await make(client, f"{NS}/pods", pod("follows", "promised"))
    assert await running_on(client, "follows") == "small"

    # A claim given a node that keeps no local volumes: the provisioner refuses and hands it back
    # to the scheduler, which places the pod where the volume can be made.
    wrong = claim("wrong", "512Mi")
    wrong["metadata"]["annotations"] = {"volume.kubernetes.io/selected-node": "none"}
    await make(client, f"{NS}/persistentvolumeclaims", wrong)
    await make(client, f"{NS}/pods", pod("moved", "wrong"))
    assert await running_on(client, "moved") in ("big", "small")
    failed = [e["message"] for e in await events(client, "wrong") if e["reason"] == "ProvisioningFailed"]
    assert failed == ['failed to provision volume with StorageClass "local-path": node "none" has no local storage '
                      "for volumes (its agent provisions none)"]


async def test_static_volumes_bind_by_the_matching_rules(cluster, client) -> None:
    for pv in (static_volume("tiny", "1Gi"), static_volume("fits", "5Gi"), static_volume("roomy", "20Gi"),
               static_volume("labelled", "30Gi", labels={"tier": "fast"}),
               static_volume("many", "5Gi", accessModes=["ReadWriteMany"])):
        await make(client, PVS, pv)

    async def available() -> bool:
        _, body = await client.request("GET", PVS)
        return sorted(p["status"]["phase"] for p in body["items"]) == ["Available"] * 5
    await wait_until(available, timeout=30)
    # The smallest volume that serves the claim: not "tiny" (too small), not "many" (access modes).
    await make(client, f"{NS}/persistentvolumeclaims", claim("two", "2Gi", storage_class=""))
    assert (await bound(client, "two"))["spec"]["volumeName"] == "fits"
    pv = await get(client, f"{PVS}/fits")
    assert pv["spec"]["claimRef"]["name"] == "two" and pv["status"]["phase"] == "Bound"
    assert pv["metadata"]["annotations"]["pv.kubernetes.io/bound-by-controller"] == "yes"
    # A selector narrows the choice; RWX asks for "many".
    await make(client, f"{NS}/persistentvolumeclaims",
               claim("fast", "1Gi", storage_class="", selector={"matchLabels": {"tier": "fast"}}))
    assert (await bound(client, "fast"))["spec"]["volumeName"] == "labelled"
    rwx = claim("shared", "1Gi", storage_class="")
    rwx["spec"]["accessModes"] = ["ReadWriteMany"]
    await make(client, f"{NS}/persistentvolumeclaims", rwx)
    assert (await bound(client, "shared"))["spec"]["volumeName"] == "many"
    # A claim naming a volume (pre-bound by the user) gets that one, larger or not.
    await make(client, f"{NS}/persistentvolumeclaims", claim("mine", "1Gi", storage_class="", volumeName="roomy"))
    assert (await bound(client, "mine"))["spec"]["volumeName"] == "roomy"
    # A WaitForFirstConsumer claim whose chosen node is gone binds nothing, wherever it could.
    later = {"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass", "metadata": {"name": "later"},
             "provisioner": "kubernetes.io/no-provisioner", "volumeBindingMode": "WaitForFirstConsumer"}
    await make(client, SCS, later)
    await make(client, PVS, static_volume("for-later", "1Gi", "later"))
    ghost = claim("ghost", "1Gi", storage_class="later")
    ghost["metadata"]["annotations"] = {"volume.kubernetes.io/selected-node": "ghost"}
    await make(client, f"{NS}/persistentvolumeclaims", ghost)
    async def said() -> bool:
        return any(e["message"] == 'node "ghost" selected for the claim was not found; waiting for the scheduler '
                   "to select another" for e in await events(client, "ghost"))
    await wait_until(said, timeout=30)
    assert "claimRef" not in (await get(client, f"{PVS}/for-later"))["spec"]
    # Nothing left that serves it: Pending, and the event says why.
    await make(client, f"{NS}/persistentvolumeclaims", claim("nothing", "100Gi", storage_class=""))
    await wait_until(lambda: _reason(client, "nothing", "FailedBinding"), timeout=30)
    assert (await get(client, f"{NS}/persistentvolumeclaims/nothing"))["status"]["phase"] == "Pending"

    # Released: Retain keeps the volume (and its claimRef) for an administrator; Delete of a
    # volume nobody provisioned cannot be carried out: Failed, as Kubernetes says it.
    await client.request("DELETE", f"{NS}/persistentvolumeclaims/two")

    async def released() -> dict[str, Any] | None:
        pv = await get(client, f"{PVS}/fits")
        return pv if pv["status"]["phase"] == "Released" else None
    assert (await wait_until(released, timeout=30))["spec"]["claimRef"]["name"] == "two"
    await make(client, PVS, static_volume("doomed", "1Gi", "", persistentVolumeReclaimPolicy="Delete",
                                          claimRef={"namespace": "default", "name": "gone"}))
    await make(client, f"{NS}/persistentvolumeclaims", claim("gone", "1Gi", storage_class=""))
    await bound(client, "gone")
    await client.request("DELETE", f"{NS}/persistentvolumeclaims/gone")

    async def failed() -> dict[str, Any] | None:
        pv = await get(client, f"{PVS}/doomed")
        return pv if pv["status"]["phase"] == "Failed" else None
    assert (await wait_until(failed, timeout=30))["status"]["message"] == (
        'error getting deleter volume plugin for volume "doomed": no deletable volume plugin matched')


async def test_pods_follow_their_volumes_and_claims_they_cannot_use(cluster, client, tmp_path) -> None:
    # A bound local volume pins its pods to its node.
    affinity = {"required": {"nodeSelectorTerms": [{"matchExpressions": [
        {"key": "kubernetes.io/hostname", "operator": "In", "values": ["none"]}]}]}}
    pinned = static_volume("on-none", "1Gi", nodeAffinity=affinity, claimRef={"namespace": "default", "name": "pin"})
    pinned["spec"]["hostPath"] = {"path": str(tmp_path / "not-made"), "type": "DirectoryOrCreate"}
    await make(client, PVS, pinned)
    await make(client, f"{NS}/persistentvolumeclaims", claim("pin", storage_class=""))
    await bound(client, "pin")
    await make(client, f"{NS}/pods", pod("pinned", "pin"))
    assert await running_on(client, "pinned") == "none"
    assert not (tmp_path / "not-made").exists()  # a hollow node's paths are not this machine's

    # What no node can change: a missing claim, an unbound claim of an Immediate class.
    await make(client, f"{NS}/pods", pod("orphan", "missing"))
    fast = {"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass", "metadata": {"name": "manual"},
            "provisioner": "kubernetes.io/no-provisioner"}
    await make(client, SCS, fast)
    await make(client, f"{NS}/persistentvolumeclaims", claim("unbound", storage_class="manual"))
    await make(client, f"{NS}/pods", pod("stuck", "unbound"))
    for name, message in (("orphan", '0/3 nodes are available: 3 persistentvolumeclaim "missing" not found.'),
                          ("stuck", "0/3 nodes are available: 3 pod has unbound immediate PersistentVolumeClaims.")):
        async def said() -> bool:
            p = await get(client, f"{NS}/pods/{name}")
            return any(c["type"] == "PodScheduled" and c.get("message") == message
                       for c in p.get("status", {}).get("conditions", []))
        await wait_until(said, timeout=30)


async def test_an_immediate_local_class_provisions_at_once_on_the_roomiest_node(cluster, client) -> None:
    now = {"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass", "metadata": {"name": "now"},
           "provisioner": "pyctl.io/local-path", "reclaimPolicy": "Retain"}
    await make(client, SCS, now)
    await make(client, f"{NS}/persistentvolumeclaims", claim("early", "3Gi", storage_class="now"))
    pvc = await bound(client, "early")  # no pod needed
    pv = await get(client, f"{PVS}/{pvc['spec']['volumeName']}")
    assert pv["spec"]["nodeAffinity"]["required"]["nodeSelectorTerms"][0]["matchExpressions"][0]["values"] == ["big"]
    assert pv["spec"]["persistentVolumeReclaimPolicy"] == "Retain"
    await make(client, f"{NS}/pods", pod("late", "early"))
    assert await running_on(client, "late") == "big"
    # Retain: the claim goes, the volume stays Released and the node keeps the data.
    await client.request("DELETE", f"{NS}/pods/late")
    await client.request("DELETE", f"{NS}/persistentvolumeclaims/early")

    async def released() -> bool:
        return (await get(client, f"{PVS}/{pv['metadata']['name']}"))["status"]["phase"] == "Released"
    await wait_until(released, timeout=30)
    assert cluster["big"].local_volumes.deleted == [] and pv["metadata"]["name"] in cluster["big"].local_volumes.kept


MANIFEST = """\
apiVersion: v1
kind: PersistentVolumeClaim
metadata:
  name: db-data
spec:
  accessModes: [ReadWriteOnce]
  resources:
    requests:
      storage: 3Gi
---
apiVersion: v1
kind: Pod
metadata:
  name: db
spec:
  containers:
  - name: db
    image: postgres:16
    volumeMounts:
    - name: data
      mountPath: /var/lib/postgresql/data
  volumes:
  - name: data
    persistentVolumeClaim:
      claimName: db-data
"""


async def test_kubectl_and_pyctl_show_volumes_claims_and_classes(cluster, client, api, tmp_path) -> None:
    from .kubectl import Kubectl
    from .test_pyctl import pyctl

    kubectl = Kubectl(api.url, tmp_path)
    assert "persistentvolumeclaim/db-data created" in await kubectl.ok("apply", "-f", "-", stdin=MANIFEST)
    pvc = await bound(client, "db-data")
    volume = pvc["spec"]["volumeName"]
    out = await kubectl.ok("get", "pv,pvc,sc")
    blocks = [b.splitlines() for b in out.strip().split("\n\n")]
    assert blocks[0][0].split() == ["NAME", "CAPACITY", "ACCESS", "MODES", "RECLAIM", "POLICY", "STATUS", "CLAIM",
                                    "STORAGECLASS", "VOLUMEATTRIBUTESCLASS", "REASON", "AGE"]
    assert blocks[0][1].split()[:7] == [f"persistentvolume/{volume}", "3Gi", "RWO", "Delete", "Bound",
                                        "default/db-data", "local-path"]
    assert blocks[1][0].split() == ["NAME", "STATUS", "VOLUME", "CAPACITY", "ACCESS", "MODES", "STORAGECLASS",
                                    "VOLUMEATTRIBUTESCLASS", "AGE"]
    assert blocks[1][1].split()[:6] == ["persistentvolumeclaim/db-data", "Bound", volume, "3Gi", "RWO", "local-path"]
    assert blocks[2][1].split()[:6] == ["storageclass.storage.k8s.io/local-path", "(default)", "pyctl.io/local-path",
                                        "Delete", "WaitForFirstConsumer", "false"]
    wide = await kubectl.ok("get", "pvc", "-o", "wide")
    assert wide.splitlines()[0].split()[-1] == "VOLUMEMODE" and wide.splitlines()[1].split()[-1] == "Filesystem"

    described = await kubectl.ok("describe", "pvc", "db-data")  # kubectl's own describer, our objects
    assert "Used By:       db" in described and "ProvisioningSucceeded" in described
    r = await pyctl(api.url, "describe", "pvc", "db-data")
    assert r.code == 0
    lines = r.out.splitlines()
    assert "Status:        Bound" in lines and f"Volume:        {volume}" in lines and "Used By:       db" in lines
    assert "Finalizers:    [kubernetes.io/pvc-protection]" in lines
    assert any("WaitForFirstConsumer" in line and "persistentvolume-controller" in line for line in lines)
    r = await pyctl(api.url, "describe", "pv", volume)
    assert "    Term 0:        kubernetes.io/hostname in [big]" in r.out.splitlines()
    assert "    Type:  LocalVolume (a persistent volume backed by local storage on a node)" in r.out.splitlines()
    r = await pyctl(api.url, "describe", "sc", "local-path")
    assert "IsDefaultClass:        Yes" in r.out.splitlines()
    # Bad input: a precise error, nothing stored.
    r = await pyctl(api.url, "apply", "-f", "-", stdin=MANIFEST.split("---")[0].replace("3Gi", "-1Gi")
                    .replace("db-data", "bad"))
    assert r.code != 0 and 'spec.resources[storage]: Invalid value: "-1Gi": must be greater than zero' in r.err
    assert (await client.request("GET", f"{NS}/persistentvolumeclaims/bad"))[0] == 404
