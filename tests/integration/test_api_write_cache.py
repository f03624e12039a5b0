"""What a write returns, what a later read serves and what etcd holds are one object.

The watch cache takes the object a write of this API server stored instead of decoding the
watch event's copy (storage.py, cache.py): every kind of write is checked here against etcd.
"""

from __future__ import annotations

import json

from controlplane.store import Store

PODS = "/api/v1/namespaces/default/pods"
DEPLOYS = "/apis/apps/v1/namespaces/default/deployments"
MERGE = {"Content-Type": "application/merge-patch+json"}
STRATEGIC = {"Content-Type": "application/strategic-merge-patch+json"}
JSON_PATCH = {"Content-Type": "application/json-patch+json"}
APPLY = {"Content-Type": "application/apply-patch+yaml"}


async def etcd_object(etcd, key: str) -> dict:
    """The object as etcd holds it, with its revision as resourceVersion (as the API shows it)."""
    store = Store([etcd.url])
    try:
        kv = await store.get(key)
    finally:
        await store.close()
    obj = json.loads(kv.value)
    obj["metadata"]["resourceVersion"] = str(kv.mod_revision)
    return obj


async def check(client, etcd, path: str, key: str, written: dict) -> None:
    status, read = await client.request("GET", path)
    assert status == 200, read
    stored = await etcd_object(etcd, key)
    assert written == stored
    assert read == stored


async def test_each_kind_of_write_reads_back_as_etcd_holds_it(client, etcd):
    pod = {"apiVersion": "v1", "kind": "Pod",
           "metadata": {"name": "p", "labels": {"app": "web"}, "annotations": {"note": "héllo"}},
           "spec": {"containers": [{"name": "c", "image": "busybox", "ports": [{"containerPort": 80}]}]}}
    path, key = PODS + "/p", "/registry/pods/default/p"
    status, obj = await client.request("POST", PODS + "?fieldManager=tester", pod)
    assert status == 201, obj
    await check(client, etcd, path, key, obj)

    obj["metadata"]["labels"]["tier"] = "front"
    obj["metadata"]["selfLink"] = "/ignored"
    status, put = await client.request("PUT", path + "?fieldManager=tester", obj)
    assert status == 200, put
    status, read = await client.request("GET", path)
    assert read["metadata"]["labels"] == {"app": "web", "tier": "front"}
    assert "selfLink" not in read["metadata"]
    assert read == await etcd_object(etcd, key)

    writes = [
        ("PATCH", path, {"metadata": {"labels": {"merged": "yes"}}}, MERGE),
        ("PATCH", path, {"spec": {"containers": [{"name": "c", "image": "busybox:2"}]}}, STRATEGIC),
        ("PATCH", path, [{"op": "add", "path": "/metadata/annotations/patched", "value": "1"}], JSON_PATCH),
        ("PATCH", path + "/status", {"status": {"phase": "Running", "podIP": "10.0.0.5"}}, MERGE),
        ("PATCH", path + "?fieldManager=applier",
         {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "labels": {"applied": "x"}}}, APPLY),
    ]
    for method, url, body, headers in writes:
        status, written = await client.request(method, url, body, headers=headers)
        assert status == 200, (url, written)
        await check(client, etcd, path, key, written)

    status, _ = await client.request("POST", path + "/binding",
                                     {"apiVersion": "v1", "kind": "Binding", "metadata": {"name": "p"},
                                      "target": {"kind": "Node", "name": "n1"}})
    assert status == 201
    status, read = await client.request("GET", path)
    assert read["spec"]["nodeName"] == "n1"
    assert read == await etcd_object(etcd, key)

    # A delete that only marks the pod (it has a node: graceful) is a write too.
    status, marked = await client.request("DELETE", path)
    assert status == 200 and marked["metadata"]["deletionTimestamp"], marked
    await check(client, etcd, path, key, marked)


async def test_created_service_and_scaled_deployment_read_back_as_stored(client, etcd):
    svc = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"},
           "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}]}}
    status, created = await client.request("POST", "/api/v1/namespaces/default/services", svc)
    assert status == 201 and created["spec"]["clusterIP"], created
    await check(client, etcd, "/api/v1/namespaces/default/services/s", "/registry/services/default/s", created)

    deploy = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"},
              "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "d"}},
                       "template": {"metadata": {"labels": {"app": "d"}},
                                    "spec": {"containers": [{"name": "c", "image": "busybox"}]}}}}
    status, created = await client.request("POST", DEPLOYS, deploy)
    assert status == 201, created
    status, scale = await client.request("PATCH", DEPLOYS + "/d/scale", {"spec": {"replicas": 3}},
                                         headers=MERGE)
    assert status == 200 and scale["spec"]["replicas"] == 3, scale
    status, read = await client.request("GET", DEPLOYS + "/d")
    assert read["spec"]["replicas"] == 3 and read["metadata"]["generation"] == 2
    assert read == await etcd_object(etcd, "/registry/deployments/default/d")


async def test_watchers_get_the_written_object(client, etcd):
    status, listed = await client.request("GET", PODS)
    rv = listed["metadata"]["resourceVersion"]
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "w"},
           "spec": {"containers": [{"name": "c", "image": "busybox"}]}}
    status, created = await client.request("POST", PODS, pod)
    assert status == 201
    status, patched = await client.request("PATCH", PODS + "/w", {"metadata": {"labels": {"a": "b"}}},
                                           headers=MERGE)
    assert status == 200
    async with client.session.get(client.base + PODS, params={"watch": "1", "resourceVersion": rv,
                                                              "timeoutSeconds": "5"}) as resp:
        events = []
        async for line in resp.content:
            events.append(json.loads(line))
            if len(events) == 2:
                break
    assert [(e["type"], e["object"]) for e in events] == [("ADDED", created), ("MODIFIED", patched)]
    assert patched == await etcd_object(etcd, "/registry/pods/default/w")
