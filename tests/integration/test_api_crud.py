"""The REST verbs over real HTTP against a real etcd: what any Kubernetes client relies on."""

from __future__ import annotations

import base64
import copy
import json

import pytest

from controlplane.store import Store

DEPLOY = {
    "apiVersion": "apps/v1", "kind": "Deployment",
    "metadata": {"name": "myapp", "labels": {"app": "myapp"}},
    "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "myapp"}},
             "template": {"metadata": {"labels": {"app": "myapp"}},
                          "spec": {"containers": [{"name": "web", "image": "nginx:1.25"}]}}},
}
DEPLOYS = "/apis/apps/v1/namespaces/default/deployments"
TABLE = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"


def pod(name: str, labels: dict | None = None, node: str | None = None) -> dict:
    spec = {"containers": [{"name": "c", "image": "busybox"}]}
    if node:
        spec["nodeName"] = node
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": labels or {}},
            "spec": spec}


# What the API servers write on their own, whatever a client does (apiendpoints.py): the
# `kubernetes` Service's Endpoints and EndpointSlice, made once after start, and each server's
# endpoint Lease, renewed every 10 s. "Nothing was written" means nothing else was.
API_SERVERS_OWN = ("/registry/leases/kube-system/apiserver-endpoint-", "/registry/endpoints/default/kubernetes",
                   "/registry/endpointslices/default/kubernetes", "/registry/services/default/kubernetes")


async def raw_keys(etcd, prefix: str = "/registry/") -> dict[str, bytes]:
    """Every key under `prefix` and its value, but what the API servers keep on their own."""
    store = Store([etcd.url])
    try:
        items, _, _ = await store.list(prefix)
        return {kv.key: kv.value for kv in items if not kv.key.startswith(API_SERVERS_OWN)}
    finally:
        await store.close()


async def test_discovery_and_version(client):
    status, v = await client.request("GET", "/version/")
    assert status == 200 and v["major"] == "1" and v["minor"] == "37"
    status, core = await client.request("GET", "/api/v1")
    pods = next(r for r in core["resources"] if r["name"] == "pods")
    assert pods["shortNames"] == ["po"] and "all" in pods["categories"] and pods["namespaced"]
    assert any(r["name"] == "pods/binding" for r in core["resources"])
    status, apps = await client.request("GET", "/apis/apps/v1")
    scale = next(r for r in apps["resources"] if r["name"] == "deployments/scale")
    assert (scale["group"], scale["kind"]) == ("autoscaling", "Scale")
    status, agg = await client.request(
        "GET", "/apis", headers={"Accept": "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"})
    assert agg["kind"] == "APIGroupDiscoveryList"
    assert "apps" in [g["metadata"].get("name") for g in agg["items"]]


async def test_create_get_list_with_server_metadata_and_defaults(client):
    status, created = await client.request("POST", DEPLOYS, DEPLOY)
    assert status == 201
    md = created["metadata"]
    assert md["uid"] and md["creationTimestamp"] and md["generation"] == 1 and md["namespace"] == "default"
    assert int(md["resourceVersion"]) > 0
    assert created["spec"]["strategy"]["type"] == "RollingUpdate"
    assert created["spec"]["revisionHistoryLimit"] == 10
    assert created["spec"]["template"]["spec"]["containers"][0]["imagePullPolicy"] == "IfNotPresent"
    status, got = await client.request("GET", f"{DEPLOYS}/myapp")
    assert status == 200 and got == created
    status, lst = await client.request("GET", DEPLOYS)
    assert lst["kind"] == "DeploymentList" and [i["metadata"]["name"] for i in lst["items"]] == ["myapp"]
    assert int(lst["metadata"]["resourceVersion"]) >= int(md["resourceVersion"])


async def test_duplicate_create_is_already_exists_and_changes_nothing(client, etcd):
    await client.request("POST", DEPLOYS, DEPLOY)
    before = await raw_keys(etcd)
    other = copy.deepcopy(DEPLOY)
    other["spec"]["replicas"] = 9
    status, body = await client.request("POST", DEPLOYS, other)
    assert status == 409 and body["reason"] == "AlreadyExists"
    assert body["message"] == 'deployments.apps "myapp" already exists'
    assert await raw_keys(etcd) == before


async def test_update_with_stale_resource_version_is_conflict(client, etcd):
    _, created = await client.request("POST", DEPLOYS, DEPLOY)
    first = copy.deepcopy(created)
    first["spec"]["replicas"] = 3
    status, updated = await client.request("PUT", f"{DEPLOYS}/myapp", first)
    assert status == 200 and updated["metadata"]["generation"] == 2
    before = await raw_keys(etcd)
    stale = copy.deepcopy(created)
    stale["spec"]["replicas"] = 7
    status, body = await client.request("PUT", f"{DEPLOYS}/myapp", stale)
    assert status == 409 and body["reason"] == "Conflict"
    assert "the object has been modified" in body["message"]
    assert await raw_keys(etcd) == before


async def test_generation_moves_only_with_spec_and_status_is_split(client):
    _, created = await client.request("POST", DEPLOYS, DEPLOY)
    labelled = copy.deepcopy(created)
    labelled["metadata"]["labels"]["tier"] = "web"
    labelled["status"] = {"replicas": 99}
    _, updated = await client.request("PUT", f"{DEPLOYS}/myapp", labelled)
    assert updated["metadata"]["generation"] == 1 and "replicas" not in updated.get("status", {})
    status_obj = copy.deepcopy(updated)
    status_obj["status"] = {"replicas": 2, "observedGeneration": 1}
    status_obj["spec"]["replicas"] = 50
    status, after = await client.request("PUT", f"{DEPLOYS}/myapp/status", status_obj)
    assert status == 200 and after["status"]["replicas"] == 2 and after["spec"]["replicas"] == 2
    assert after["metadata"]["generation"] == 1


async def test_patch_types(client):
    await client.request("POST", DEPLOYS, DEPLOY)
    path = f"{DEPLOYS}/myapp"
    status, merged = await client.request("PATCH", path, data=json.dumps({"spec": {"replicas": 4}}),
                                          headers={"Content-Type": "application/merge-patch+json"})
    assert status == 200 and merged["spec"]["replicas"] == 4
    ops = [{"op": "replace", "path": "/spec/template/spec/containers/0/image", "value": "nginx:1.26"}]
    status, patched = await client.request("PATCH", path, data=json.dumps(ops),
                                           headers={"Content-Type": "application/json-patch+json"})
    assert status == 200 and patched["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.26"
    smp = {"spec": {"template": {"spec": {"containers": [{"name": "side", "image": "busybox"}]}}}}
    status, strategic = await client.request("PATCH", path, data=json.dumps(smp),
                                             headers={"Content-Type": "application/strategic-merge-patch+json"})
    assert status == 200
    assert [c["name"] for c in strategic["spec"]["template"]["spec"]["containers"]] == ["side", "web"]  # as upstream: new items first
    status, body = await client.request("PATCH", path, data="{}", headers={"Content-Type": "text/plain"})
    assert status == 415 and body["kind"] == "Status"
    status, body = await client.request("PATCH", f"{DEPLOYS}/nosuch", data="{}",
                                        headers={"Content-Type": "application/merge-patch+json"})
    assert status == 404 and body["reason"] == "NotFound"


async def test_scale_subresource(client):
    await client.request("POST", DEPLOYS, DEPLOY)
    status, scale = await client.request("PATCH", f"{DEPLOYS}/myapp/scale",
                                         data=json.dumps({"spec": {"replicas": 5}}),
                                         headers={"Content-Type": "application/merge-patch+json"})
    assert status == 200 and scale["kind"] == "Scale" and scale["apiVersion"] == "autoscaling/v1"
    assert scale["spec"]["replicas"] == 5 and scale["status"]["selector"] == "app=myapp"
    _, dep = await client.request("GET", f"{DEPLOYS}/myapp")
    assert dep["spec"]["replicas"] == 5 and dep["metadata"]["generation"] == 2
    stale = dict(scale, spec={"replicas": 1})
    stale["metadata"] = dict(scale["metadata"], resourceVersion="1")
    status, body = await client.request("PUT", f"{DEPLOYS}/myapp/scale", stale)
    assert status == 409


async def test_label_and_field_selectors(client):
    for name, labels in (("a", {"app": "x", "tier": "web"}), ("b", {"app": "x"}), ("c", {"app": "y"})):
        await client.request("POST", "/api/v1/namespaces/default/pods", pod(name, labels))

    async def names(query: str) -> list[str]:
        status, body = await client.request("GET", "/api/v1/namespaces/default/pods?" + query)
        assert status == 200, body
        return [i["metadata"]["name"] for i in body["items"]]

    assert await names("labelSelector=app%3Dx") == ["a", "b"]
    assert await names("labelSelector=app%20in%20(x,y),!tier") == ["b", "c"]
    assert await names("labelSelector=tier") == ["a"]
    assert await names("fieldSelector=metadata.name%3Db") == ["b"]
    assert await names("fieldSelector=status.phase%3DPending,metadata.name!%3Da") == ["b", "c"]
    status, body = await client.request("GET", "/api/v1/namespaces/default/pods?fieldSelector=spec.foo%3D1")
    assert status == 400 and "field label not supported: spec.foo" in body["message"]


async def test_paging_with_limit_and_continue(client):
    for i in range(5):
        await client.request("POST", "/api/v1/namespaces/default/pods", pod(f"p{i}"))
    seen, token = [], ""
    while True:
        q = "limit=2" + (f"&continue={token}" if token else "")
        _, page = await client.request("GET", "/api/v1/namespaces/default/pods?" + q)
        seen += [i["metadata"]["name"] for i in page["items"]]
        token = page["metadata"].get("continue")
        if not token:
            break
    assert seen == ["p0", "p1", "p2", "p3", "p4"]


async def test_continued_pages_are_one_snapshot_even_while_objects_change(client, etcd):
    pods = "/api/v1/namespaces/default/pods"
    for i in range(6):
        await client.request("POST", pods, pod(f"p{i}", labels={"app": "a" if i % 2 else "b"}))
    _, first = await client.request("GET", pods + "?limit=2")
    token, rv = first["metadata"]["continue"], first["metadata"]["resourceVersion"]
    # Between pages: one pod goes, one arrives, one changes; the rest of the list must not see it.
    await client.request("DELETE", f"{pods}/p4")
    await client.request("POST", pods, pod("p3a"))
    await client.request("PATCH", f"{pods}/p5", {"metadata": {"labels": {"app": "changed"}}},
                         headers={"Content-Type": "application/merge-patch+json"})
    seen = [i["metadata"]["name"] for i in first["items"]]
    while token:
        _, page = await client.request("GET", f"{pods}?limit=2&continue={token}")
        assert page["metadata"]["resourceVersion"] == rv
        seen += [i["metadata"]["name"] for i in page["items"]]
        labels = {i["metadata"]["name"]: i["metadata"]["labels"]["app"] for i in page["items"]}
        assert labels.get("p5", "a") == "a"
        token = page["metadata"].get("continue")
    assert seen == ["p0", "p1", "p2", "p3", "p4", "p5"]
    # A selector filters within the snapshot too.
    _, sel = await client.request("GET", pods + "?limit=1&labelSelector=app%3Da")
    await client.request("DELETE", f"{pods}/p1")
    names = [i["metadata"]["name"] for i in sel["items"]]
    token = sel["metadata"]["continue"]
    while token:
        _, page = await client.request("GET", f"{pods}?limit=1&labelSelector=app%3Da&continue={token}")
        names += [i["metadata"]["name"] for i in page["items"]]
        token = page["metadata"].get("continue")
    assert names == ["p1", "p3"]  # p5 was relabelled before this list began
    # Once etcd has compacted the first page's revision, the token is Expired (410), as in kube.
    _, again = await client.request("GET", pods + "?limit=1")
    await client.request("POST", pods, pod("later"))
    store = Store([etcd.url])
    await store.compact(await store.revision())
    await store.close()
    status, body = await client.request("GET", f"{pods}?limit=1&continue={again['metadata']['continue']}")
    assert status == 410 and body["reason"] == "Expired" and "continue parameter is too old" in body["message"]


async def test_all_namespaces_list_and_table(client):
    await client.request("POST", "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace",
                                                         "metadata": {"name": "team"}})
    await client.request("POST", "/api/v1/namespaces/team/pods", pod("x"))
    await client.request("POST", "/api/v1/namespaces/default/pods", pod("y"))
    status, table = await client.request("GET", "/api/v1/pods", headers={"Accept": TABLE})
    assert status == 200 and table["kind"] == "Table"
    cols = [c["name"] for c in table["columnDefinitions"]]
    assert cols[:5] == ["Name", "Ready", "Status", "Restarts", "Age"]
    rows = {r["object"]["metadata"]["namespace"]: r["cells"] for r in table["rows"]}
    assert rows["team"][0] == "x" and rows["default"][0] == "y" and rows["team"][2] == "Pending"


async def test_create_in_missing_namespace_is_not_found(client, etcd):
    before = await raw_keys(etcd)
    status, body = await client.request("POST", "/api/v1/namespaces/nope/pods", pod("x"))
    assert status == 404 and body["message"] == 'namespaces "nope" not found'
    assert await raw_keys(etcd) == before


async def test_graceful_pod_deletion_then_final_delete(client):
    await client.request("POST", "/api/v1/namespaces/default/pods", pod("p", node="node-1"))
    status, marked = await client.request("DELETE", "/api/v1/namespaces/default/pods/p")
    assert status == 200 and marked["metadata"]["deletionTimestamp"]
    assert marked["metadata"]["deletionGracePeriodSeconds"] == 30
    status, still = await client.request("GET", "/api/v1/namespaces/default/pods/p")
    assert status == 200
    status, _ = await client.request("DELETE", "/api/v1/namespaces/default/pods/p",
                                     {"gracePeriodSeconds": 0})
    assert status == 200
    status, _ = await client.request("GET", "/api/v1/namespaces/default/pods/p")
    assert status == 404


async def test_unscheduled_pod_is_deleted_at_once_and_finalizers_hold_objects(client):
    await client.request("POST", "/api/v1/namespaces/default/pods", pod("p"))
    await client.request("DELETE", "/api/v1/namespaces/default/pods/p")
    assert (await client.request("GET", "/api/v1/namespaces/default/pods/p"))[0] == 404
    cm = {"apiVersion": "v1", "kind": "ConfigMap",
          "metadata": {"name": "c", "finalizers": ["example.com/hold"]}, "data": {"a": "1"}}
    await client.request("POST", "/api/v1/namespaces/default/configmaps", cm)
    status, marked = await client.request("DELETE", "/api/v1/namespaces/default/configmaps/c")
    assert status == 200 and marked["metadata"]["deletionTimestamp"]
    released = dict(marked)
    released["metadata"] = dict(marked["metadata"], finalizers=[])
    status, _ = await client.request("PUT", "/api/v1/namespaces/default/configmaps/c", released)
    assert status == 200
    assert (await client.request("GET", "/api/v1/namespaces/default/configmaps/c"))[0] == 404


async def test_binding_assigns_once(client):
    await client.request("POST", "/api/v1/namespaces/default/pods", pod("p"))
    binding = {"apiVersion": "v1", "kind": "Binding", "metadata": {"name": "p"},
               "target": {"apiVersion": "v1", "kind": "Node", "name": "Node_1!"}}
    status, body = await client.request("POST", "/api/v1/namespaces/default/pods/p/binding", binding)
    assert status == 422 and body["details"]["causes"][0]["field"] == "target.name"
    assert "nodeName" not in (await client.request("GET", "/api/v1/namespaces/default/pods/p"))[1]["spec"]
    binding["target"]["name"] = "node-1"
    status, _ = await client.request("POST", "/api/v1/namespaces/default/pods/p/binding", binding)
    assert status == 201
    _, got = await client.request("GET", "/api/v1/namespaces/default/pods/p")
    assert got["spec"]["nodeName"] == "node-1"
    assert {"type": "PodScheduled", "status": "True"}.items() <= got["status"]["conditions"][0].items()
    binding["target"]["name"] = "node-2"
    status, body = await client.request("POST", "/api/v1/namespaces/default/pods/p/binding", binding)
    assert status == 409 and "already assigned" in body["message"]


async def test_dry_run_writes_nothing(client, etcd):
    before = await raw_keys(etcd)
    status, obj = await client.request("POST", DEPLOYS + "?dryRun=All", DEPLOY)
    assert status == 201 and obj["metadata"]["name"] == "myapp"
    assert await raw_keys(etcd) == before


async def test_delete_collection_by_label(client):
    for name, labels in (("a", {"app": "x"}), ("b", {"app": "x"}), ("c", {"app": "y"})):
        await client.request("POST", "/api/v1/namespaces/default/pods", pod(name, labels))
    status, _ = await client.request("DELETE", "/api/v1/namespaces/default/pods?labelSelector=app%3Dx")
    assert status == 200
    _, lst = await client.request("GET", "/api/v1/namespaces/default/pods")
    assert [i["metadata"]["name"] for i in lst["items"]] == ["c"]


@pytest.mark.parametrize("path", ["/api/v1/namespaces/default/widgets", "/apis/nope/v1/things",
                                  "/api/v2/pods"])
async def test_unknown_resources_are_status_404(client, path):
    status, body = await client.request("GET", path)
    assert status == 404 and body["kind"] == "Status"


async def test_namespace_deletion_waits_for_its_finalizer(client):
    ns = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "doomed"}}
    status, created = await client.request("POST", "/api/v1/namespaces", ns)
    assert status == 201 and created["spec"]["finalizers"] == ["kubernetes"]
    status, marked = await client.request("DELETE", "/api/v1/namespaces/doomed")
    assert status == 200 and marked["status"]["phase"] == "Terminating"
    status, body = await client.request("POST", "/api/v1/namespaces/doomed/pods", pod("late"))
    assert status == 403 and "being terminated" in body["message"]
    _, current = await client.request("GET", "/api/v1/namespaces/doomed")
    current["spec"]["finalizers"] = []
    status, _ = await client.request("PUT", "/api/v1/namespaces/doomed/finalize", current)
    assert status == 200
    assert (await client.request("GET", "/api/v1/namespaces/doomed"))[0] == 404


async def test_every_kind_with_a_status_has_one_right_after_create(client):
    """Kubernetes encodes an empty status struct as {}: clients index obj["status"] at once."""
    status, dep = await client.request("POST", DEPLOYS, DEPLOY)
    assert status == 201 and dep["status"] == {}, dep
    rs = copy.deepcopy(DEPLOY)
    rs.update(kind="ReplicaSet")
    rs["metadata"]["name"] = "myrs"
    status, created = await client.request("POST", "/apis/apps/v1/namespaces/default/replicasets", rs)
    assert status == 201 and created["status"] == {"replicas": 0}, created
    status, ns = await client.request("POST", "/api/v1/namespaces",
                                      {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "fresh"}})
    assert status == 201 and ns["status"] == {"phase": "Active"}
    status, node = await client.request("POST", "/api/v1/nodes",
                                        {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "bare"}})
    assert status == 201 and node["status"] == {}, node
    for path in (f"{DEPLOYS}/myapp", f"{DEPLOYS}/myapp/status"):
        status, got = await client.request("GET", path)
        assert status == 200 and got["status"] == {}, got
    status, cm = await client.request("POST", "/api/v1/namespaces/default/configmaps",
                                      {"metadata": {"name": "nostatus"}})
    assert status == 201 and "status" not in cm  # a kind without a status gets none


TLS_CRT = base64.b64encode(b"-----BEGIN CERTIFICATE-----\n" + bytes(range(256)) * 3).decode()


def _wrapped(b64: str, eol: str) -> str:
    """base64 cut into 64-character lines, as openssl and the kubernetes.io examples write it."""
    return eol.join(b64[i:i + 64] for i in range(0, len(b64), 64)) + eol


async def test_line_wrapped_base64_is_accepted_and_stored_unwrapped(client):
    """Kubernetes' decoder skips CR and LF in bytes fields; it stores the bytes, so the value
    comes back in one line."""
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "tls"},
              "type": "kubernetes.io/tls",
              "data": {"tls.crt": _wrapped(TLS_CRT, "\n"), "tls.key": _wrapped(TLS_CRT, "\r\n")}}
    status, body = await client.request("POST", "/api/v1/namespaces/default/secrets", secret)
    assert status == 201, body
    assert body["data"] == {"tls.crt": TLS_CRT, "tls.key": TLS_CRT}
    status, body = await client.request("GET", "/api/v1/namespaces/default/secrets/tls")
    assert body["data"]["tls.crt"] == TLS_CRT
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "bin"},
          "binaryData": {"blob": _wrapped(TLS_CRT, "\n")}}
    status, body = await client.request("POST", "/api/v1/namespaces/default/configmaps", cm)
    assert status == 201 and body["binaryData"] == {"blob": TLS_CRT}, body
    # Anything else that is not base64 is still refused.
    secret["metadata"]["name"], secret["data"]["tls.crt"] = "bad", "not base64!\n"
    status, body = await client.request("POST", "/api/v1/namespaces/default/secrets", secret)
    assert status == 422 and body["details"]["causes"][0]["field"] == "data[tls.crt]"
