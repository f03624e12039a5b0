"""POST /internal/batch against real etcd and the real API server: each item is answered as
its own request would be (and authorised as it), the items that succeed share etcd
transactions, and a refused item writes nothing while the others commit."""

from __future__ import annotations

import asyncio

from controlplane.client import ApiClient, Conflict, Invalid, NotFound
from controlplane.client.batch import BatchWriter
from controlplane.client.kinds import PODS
from controlplane.store import multitxn

from ..cluster import ApiServer, Client, wait_until
from .secure_api import admin, call, secure_api  # noqa: F401 (fixtures)

PODS_PATH = "/api/v1/namespaces/default/pods"
STRATEGIC = "application/strategic-merge-patch+json"


def pod(name: str) -> dict:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
            "spec": {"containers": [{"name": "c", "image": "busybox"}]}}


def bind(name: str, node: str) -> dict:
    return {"method": "POST", "path": f"{PODS_PATH}/{name}/binding",
            "body": {"apiVersion": "v1", "kind": "Binding", "metadata": {"name": name},
                     "target": {"apiVersion": "v1", "kind": "Node", "name": node}}}


def status_patch(name: str, phase: str, **extra) -> dict:
    return {"method": "PATCH", "path": f"{PODS_PATH}/{name}/status", "contentType": STRATEGIC,
            "body": {"status": {"phase": phase, **extra}}}


def event(name: str, about: str) -> dict:
    return {"method": "POST", "path": "/api/v1/namespaces/default/events",
            "body": {"apiVersion": "v1", "kind": "Event", "metadata": {"name": name},
                     "involvedObject": {"kind": "Pod", "namespace": "default", "name": about},
                     "reason": "Scheduled", "message": "hello", "type": "Normal"}}


async def batch(client, items: list[dict]) -> list[dict]:
    code, body = await client.request("POST", "/internal/batch", {"items": items})
    assert code == 200, body
    assert body["kind"] == "BatchResult"
    assert len(body["items"]) == len(items)
    return body["items"]


async def make_pods(client, *names: str) -> dict[str, dict]:
    out = {}
    for n in names:
        code, body = await client.request("POST", PODS_PATH, pod(n))
        assert code == 201, body
        out[n] = body
    return out


async def get_pod(client, name: str) -> dict:
    code, body = await client.request("GET", f"{PODS_PATH}/{name}")
    assert code == 200, body
    return body


async def test_each_item_has_its_own_answer_and_the_good_ones_share_a_transaction(client):
    before = await make_pods(client, "a", "b", "c")
    results = await batch(client, [
        bind("a", "node-1"),
        status_patch("b", "Running"),
        event("a.1", "a"),
        bind("missing", "node-1"),
        bind("c", "Not_A_Node"),  # invalid: 422, and c is left as it was
        {"method": "DELETE", "path": f"{PODS_PATH}/b", "body": {}},  # not a batch verb
    ])
    assert [r["code"] for r in results] == [201, 200, 201, 404, 422, 405]
    assert results[3]["status"]["reason"] == "NotFound"
    assert results[4]["status"]["reason"] == "Invalid"
    assert results[4]["status"]["details"]["causes"][0]["field"] == "target.name"
    # One etcd transaction for the three that succeeded: they share its revision.
    revs = {r["resourceVersion"] for r in results[:3]}
    assert len(revs) == 1 and revs != {""}
    a, b, c = [await get_pod(client, n) for n in "abc"]
    assert a["spec"]["nodeName"] == "node-1"
    assert a["metadata"]["resourceVersion"] == results[0]["resourceVersion"]
    assert any(cond["type"] == "PodScheduled" and cond["status"] == "True" for cond in a["status"]["conditions"])
    assert b["status"]["phase"] == "Running"
    assert b["metadata"]["managedFields"]  # the same bookkeeping as a single request
    assert c["metadata"]["resourceVersion"] == before["c"]["metadata"]["resourceVersion"]
    assert "nodeName" not in c["spec"]
    code, ev = await client.request("GET", "/api/v1/namespaces/default/events/a.1")
    assert code == 200 and ev["reason"] == "Scheduled"


async def test_a_conflict_fails_its_item_only(client):
    before = await make_pods(client, "x", "y")
    assert (await batch(client, [bind("x", "node-1")]))[0]["code"] == 201
    stale = dict(before["y"], status={"phase": "Failed"})  # pinned at a revision that is no longer current
    assert (await batch(client, [status_patch("y", "Running")]))[0]["code"] == 200
    results = await batch(client, [
        bind("x", "node-2"),  # already bound
        {"method": "PUT", "path": f"{PODS_PATH}/y/status", "body": stale},
        status_patch("x", "Running"),
    ])
    assert [r["code"] for r in results] == [409, 409, 200]
    assert 'already assigned to node "node-1"' in results[0]["status"]["message"]
    assert results[1]["status"]["reason"] == "Conflict"
    x, y = await get_pod(client, "x"), await get_pod(client, "y")
    assert x["spec"]["nodeName"] == "node-1" and x["status"]["phase"] == "Running"
    assert y["status"]["phase"] == "Running"


async def test_writes_of_one_object_in_one_batch_land_in_order(client):
    await make_pods(client, "z")
    results = await batch(client, [status_patch("z", "Pending", message="first"),
                                   status_patch("z", "Running", message="second")])
    assert [r["code"] for r in results] == [200, 200]
    assert int(results[1]["resourceVersion"]) > int(results[0]["resourceVersion"])
    z = await get_pod(client, "z")
    assert (z["status"]["phase"], z["status"]["message"]) == ("Running", "second")


async def test_a_batch_larger_than_a_transaction_is_chunked(client):
    n = multitxn.MAX_ITEMS * 2 + 10
    names = [f"p{i}" for i in range(n)]
    created = await batch(client, [{"method": "POST", "path": PODS_PATH, "body": pod(p)} for p in names])
    assert {r["code"] for r in created} == {201}
    assert [r["name"] for r in created] == names
    assert len({r["resourceVersion"] for r in created}) == 3  # three transactions
    bound = await batch(client, [bind(p, f"node-{i % 7}") for i, p in enumerate(names)])
    assert {r["code"] for r in bound} == {201}
    code, listed = await client.request("GET", PODS_PATH)
    assert code == 200
    nodes = {p["metadata"]["name"]: p["spec"].get("nodeName") for p in listed["items"]}
    assert all(nodes[p] == f"node-{i % 7}" for i, p in enumerate(names))


async def test_a_create_answers_the_name_it_generated(client):
    generated = pod("")
    generated["metadata"] = {"generateName": "gen-"}
    results = await batch(client, [{"method": "POST", "path": PODS_PATH, "body": generated}] * 2)
    assert [r["code"] for r in results] == [201, 201]
    first, second = (r["name"] for r in results)
    assert first.startswith("gen-") and second.startswith("gen-") and first != second
    assert (await get_pod(client, first))["metadata"]["resourceVersion"] == results[0]["resourceVersion"]


async def test_an_invalid_create_writes_nothing(client):
    bad = pod("bad")
    bad["spec"]["containers"][0]["name"] = "Not A Name"
    results = await batch(client, [{"method": "POST", "path": PODS_PATH, "body": bad},
                                   {"method": "POST", "path": PODS_PATH, "body": pod("good")}])
    assert [r["code"] for r in results] == [422, 201]
    assert results[0]["status"]["reason"] == "Invalid"
    assert (await client.request("GET", f"{PODS_PATH}/bad"))[0] == 404
    assert (await client.request("GET", f"{PODS_PATH}/good"))[0] == 200


async def test_a_malformed_batch_is_refused_whole(client):
    code, body = await client.request("POST", "/internal/batch", {"writes": []})
    assert code == 400 and body["kind"] == "Status"
    results = await batch(client, [{"method": "POST"}, "not an item"])
    assert [r["code"] for r in results] == [400, 400]


async def test_the_batch_writer_sends_concurrent_writes_together_with_typed_errors(api, client):
    names = [f"w{i}" for i in range(40)]
    for n in names:
        assert (await client.request("POST", PODS_PATH, pod(n)))[0] == 201
    async with ApiClient(api.url) as c:
        writer = BatchWriter(c)
        results = await asyncio.gather(
            *(writer.write("POST", PODS, "default", n, "binding",
                           body=bind(n, "node-1")["body"]) for n in names),
            writer.write("POST", PODS, "default", "nope", "binding", body=bind("nope", "node-1")["body"]),
            writer.write("POST", PODS, "default", names[0], "binding", body=bind(names[0], "node-2")["body"]),
            writer.write("POST", PODS, "default", names[1], "binding", body=bind(names[1], "Bad_Node")["body"]),
            return_exceptions=True)
        await writer.close()
    assert writer.requests <= 3
    assert all(isinstance(r, dict) and r["code"] == 201 for r in results[:40])
    assert isinstance(results[40], NotFound)
    assert isinstance(results[41], Conflict)  # the second binding of w0, after the first
    assert isinstance(results[42], (Invalid, Conflict))


# -- RBAC: each item as the request it stands for -------------------------------------------

async def test_each_item_is_authorised_as_its_own_request(secure_api, admin):
    for n in ("r1", "r2"):
        assert (await call(admin, "POST", PODS_PATH, pod(n)))[0] == 201
    rules = [{"apiGroups": [""], "resources": ["pods/binding"], "verbs": ["create"]}]
    role = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
            "metadata": {"name": "binder"}, "rules": rules}
    assert (await call(admin, "POST", "/apis/rbac.authorization.k8s.io/v1/clusterroles", role))[0] == 201
    crb = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
           "metadata": {"name": "bob-binder"},
           "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "binder"},
           "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "bob"}]}
    assert (await call(admin, "POST", "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings", crb))[0] == 201
    before = (await call(admin, "GET", f"{PODS_PATH}/r2"))[1]
    async with secure_api.session("bob") as bob:
        code, body = await call(bob, "POST", "/internal/batch",
                                {"items": [bind("r1", "node-1"), status_patch("r2", "Running"),
                                           event("r1.1", "r1")]})
        assert code == 200, body
        results = body["items"]
        assert [r["code"] for r in results] == [201, 403, 403]
        assert results[1]["status"]["message"] == (
            'pods "r2" is forbidden: User "bob" cannot patch resource "pods/status" in API group "" '
            'in the namespace "default"')
    async with secure_api.session() as nobody:
        code, _ = await call(nobody, "POST", "/internal/batch", {"items": [bind("r2", "node-1")]})
        assert code == 401
    r1, r2 = (await call(admin, "GET", f"{PODS_PATH}/r1"))[1], (await call(admin, "GET", f"{PODS_PATH}/r2"))[1]
    assert r1["spec"]["nodeName"] == "node-1"
    assert r2["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]
    assert (await call(admin, "GET", "/api/v1/namespaces/default/events/r1.1"))[0] == 404



async def test_a_watch_sees_every_object_of_a_batch_transaction(api, client):
    code, listed = await client.request("GET", PODS_PATH)
    rv = listed["metadata"]["resourceVersion"]
    names = [f"w{i}" for i in range(multitxn.MAX_ITEMS + 20)]
    created = await batch(client, [{"method": "POST", "path": PODS_PATH, "body": pod(p)} for p in names])
    assert {r["code"] for r in created} == {201}
    seen: dict[str, str] = {}
    async with ApiClient(api.url) as c:
        async for ev in c.watch(PODS, "default", resource_version=rv):
            seen[ev.object["metadata"]["name"]] = ev.object["metadata"]["resourceVersion"]
            if len(seen) == len(names):
                break
    assert seen == {n: r["resourceVersion"] for n, r in zip(names, created)}
    assert len(set(seen.values())) == 2


async def test_a_write_prepared_from_a_stale_cache_is_handed_back_for_the_single_path(api, client):
    from controlplane.api.app import OBJECTS
    from controlplane.api.options import WriteOptions
    from controlplane.client.kinds import PODS as INFO

    await make_pods(client, "s")
    objects = api.app()[OBJECTS]

    def running(p: dict) -> dict:
        p.setdefault("status", {})["phase"] = "Running"
        return p

    unpinned = await objects.prepare_update(INFO, "default", "s", running, WriteOptions(), subresource="status")
    code, current = await client.request("GET", f"{PODS_PATH}/s")
    pinned = await objects.prepare_update(INFO, "default", "s", running, WriteOptions(), subresource="status",
                                          precondition_rv=current["metadata"]["resourceVersion"])
    assert unpinned is not None and pinned is not None
    # Someone else writes the pod in between: both prepared writes are now stale.
    assert (await batch(client, [status_patch("s", "Pending", message="other")]))[0]["code"] == 200
    unpinned_answer, = await objects.commit([unpinned])
    pinned_answer, = await objects.commit([pinned])
    assert unpinned_answer is None  # guaranteed_update retries it from etcd
    assert pinned_answer.code == 409  # the client named the version: its conflict
    s = await get_pod(client, "s")
    assert s["status"]["message"] == "other" and s["status"]["phase"] == "Pending"


async def test_etcd_gone_fails_each_item_as_unavailable_and_the_batch_works_again_after(etcd):
    server = await ApiServer(etcd, etcd_request_timeout=2.0, etcd_watch_silence=2.0).start()
    c = Client(server.url)
    try:
        await make_pods(c, "o1", "o2")
        etcd.kill()
        results = await batch(c, [bind("o1", "node-1"), status_patch("o2", "Running")])
        assert [r["code"] for r in results] == [503, 503]
        assert {r["status"]["reason"] for r in results} == {"ServiceUnavailable"}
        etcd.start()  # the same data: nothing of the failed batch was stored

        async def bound():
            code, body = await c.request("POST", "/internal/batch", {"items": [bind("o1", "node-1")]})
            return code == 200 and body["items"][0]["code"] == 201
        await wait_until(bound, timeout=30, interval=0.3)
        o1, o2 = await get_pod(c, "o1"), await get_pod(c, "o2")
        assert o1["spec"]["nodeName"] == "node-1" and o2["status"].get("phase") != "Running"
    finally:
        await c.close()
        await server.stop()
