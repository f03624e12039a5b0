"""CustomResourceDefinitions on a real API server and etcd: a CRD becomes Established and its
kind is served (CRUD, discovery, validation with kube's messages, pruning, defaulting, CEL,
printer columns, status and scale subresources, field selectors, watch, patches, apply)."""

from __future__ import annotations

import asyncio
import json

import aiohttp

from .crds import CRDS, create_crd, widget, widget_crd
from ..cluster import wait_until

W = "/apis/example.com/v1/namespaces/default/widgets"
TABLE = {"Accept": "application/json;as=Table;v=v1;g=meta.k8s.io"}


async def test_a_crd_is_established_and_its_kind_served_with_crud_and_discovery(client):
    crd = await create_crd(client, widget_crd())
    assert crd["status"]["acceptedNames"]["plural"] == "widgets"
    conds = {c["type"]: (c["status"], c["reason"]) for c in crd["status"]["conditions"]}
    assert conds["NamesAccepted"] == ("True", "NoConflicts")
    assert conds["Established"] == ("True", "InitialNamesAccepted")
    assert crd["status"]["storedVersions"] == ["v1"]

    status, created = await client.request("POST", W, widget("a", color="blue"))
    assert status == 201, created
    assert created["spec"] == {"size": "small", "color": "blue", "replicas": 1, "maxReplicas": 10}
    assert "status" not in created  # the status subresource owns it
    status, got = await client.request("GET", f"{W}/a")
    assert status == 200 and got["metadata"]["uid"] == created["metadata"]["uid"]
    status, listed = await client.request("GET", W)
    assert listed["kind"] == "WidgetList" and [i["metadata"]["name"] for i in listed["items"]] == ["a"]

    status, disco = await client.request("GET", "/apis/example.com/v1")
    (res,) = [r for r in disco["resources"] if r["name"] == "widgets"]
    assert res["kind"] == "Widget" and res["namespaced"] and res["shortNames"] == ["wd"]
    assert res["categories"] == ["all"]
    assert {r["name"] for r in disco["resources"]} == {"widgets", "widgets/status", "widgets/scale"}
    status, agg = await client.request("GET", "/apis", headers={
        "Accept": "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"})
    (group,) = [g for g in agg["items"] if g["metadata"]["name"] == "example.com"]
    assert group["versions"][0]["resources"][0]["resource"] == "widgets"

    status, deleted = await client.request("DELETE", f"{W}/a")
    assert status == 200
    assert (await client.request("GET", f"{W}/a"))[0] == 404


async def test_custom_objects_are_validated_with_kube_apiserver_messages(client):
    await create_crd(client, widget_crd())
    bad = widget("b", replicas="three", color="Blue", size="huge")
    status, body = await client.request("POST", W, bad)
    assert status == 422, body
    assert body["reason"] == "Invalid" and body["details"]["kind"] == "Widget"
    messages = {c["field"]: c["message"] for c in body["details"]["causes"]}
    assert messages["spec.replicas"] == ('Invalid value: "string": spec.replicas in body must be of type '
                                         'integer: "string"')
    assert messages["spec.size"] == 'Unsupported value: "huge": supported values: "small", "large"'
    assert messages["spec.color"] == "Invalid value: \"Blue\": spec.color in body should match '^[a-z]+$'"
    assert body["message"].startswith('Widget.example.com "b" is invalid: ')

    status, body = await client.request("POST", W, {**widget("c"), "spec": {"replicas": -1}})
    causes = {c["field"]: c["message"] for c in body["details"]["causes"]}
    assert causes == {"spec.size": "Required value",
                      "spec.replicas": "Invalid value: -1: spec.replicas in body should be greater than or "
                                       "equal to 0"}
    status, body = await client.request("POST", W, widget("d", tags=["a", "a"], ports=[{"name": "x"}, {"name": "x"}]))
    causes = {c["field"]: c["message"] for c in body["details"]["causes"]}
    assert causes == {"spec.tags[1]": 'Duplicate value: "a"',
                      "spec.ports[1]": 'Duplicate value: map[string]interface {}{"name":"x"}'}
    # CEL: x-kubernetes-validations
    status, body = await client.request("POST", W, widget("e", replicas=20))
    assert status == 422
    assert body["details"]["causes"] == [{"reason": "FieldValueInvalid", "field": "spec",
                                          "message": 'Invalid value: "object": replicas must not exceed '
                                                     "maxReplicas"}]
    assert (await client.request("GET", W))[1]["items"] == []


async def test_unknown_fields_are_pruned_or_refused_as_field_validation_asks(client):
    await create_crd(client, widget_crd())
    body = widget("p", bogus=1, extra={"anything": {"goes": True}})
    body["metadata"]["junk"] = "x"
    status, created = await client.request("POST", W + "?fieldValidation=Strict", body)
    assert status == 400
    assert created["message"] == ('strict decoding error: unknown field "metadata.junk", '
                                  'unknown field "spec.bogus"')
    async with client.session.post(client.base + W + "?fieldValidation=Warn", json=body) as resp:
        assert resp.status == 201
        warnings = resp.headers.getall("Warning")
        created = await resp.json()
    assert warnings == ['299 - "unknown field \\"metadata.junk\\""', '299 - "unknown field \\"spec.bogus\\""']
    assert "bogus" not in created["spec"] and "junk" not in created["metadata"]
    assert created["spec"]["extra"] == {"anything": {"goes": True}}  # x-kubernetes-preserve-unknown-fields


async def test_status_and_scale_subresources_and_printer_columns(client):
    await create_crd(client, widget_crd())
    await client.request("POST", W, widget("s", replicas=2))
    status, obj = await client.request("GET", f"{W}/s")
    # Status through /status only; a main-resource write keeps it.
    obj["status"] = {"replicas": 2, "selector": "app=s", "phase": "Ready"}
    status, updated = await client.request("PUT", f"{W}/s/status", obj)
    assert status == 200 and updated["status"]["phase"] == "Ready"
    updated["status"] = {"phase": "Hacked"}
    updated["spec"]["color"] = "red"
    status, updated = await client.request("PUT", f"{W}/s", updated)
    assert updated["status"]["phase"] == "Ready" and updated["spec"]["color"] == "red"
    assert updated["metadata"]["generation"] == 2

    status, scale = await client.request("GET", f"{W}/s/scale")
    assert scale["spec"] == {"replicas": 2} and scale["status"] == {"replicas": 2, "selector": "app=s"}
    status, scale = await client.request("PATCH", f"{W}/s/scale", {"spec": {"replicas": 5}},
                                         headers={"Content-Type": "application/merge-patch+json"})
    assert status == 200 and scale["spec"]["replicas"] == 5
    assert (await client.request("GET", f"{W}/s"))[1]["spec"]["replicas"] == 5

    status, table = await client.request("GET", W, headers=TABLE)
    assert [c["name"] for c in table["columnDefinitions"]] == ["Name", "Size", "Replicas", "Age"]
    assert table["rows"][0]["cells"][:3] == ["s", "small", 5]


async def test_field_selectors_watch_patches_and_server_side_apply(client):
    await create_crd(client, widget_crd())
    for name in ("f1", "f2"):
        await client.request("POST", W, widget(name))
    status, listed = await client.request("GET", W + "?fieldSelector=metadata.name%3Df2")
    assert [i["metadata"]["name"] for i in listed["items"]] == ["f2"]
    status, body = await client.request("GET", W + "?fieldSelector=spec.size%3Dsmall")
    assert status == 400

    status, patched = await client.request("PATCH", f"{W}/f1", {"spec": {"color": "green"}},
                                           headers={"Content-Type": "application/merge-patch+json"})
    assert status == 200 and patched["spec"]["color"] == "green"
    status, patched = await client.request("PATCH", f"{W}/f1", [{"op": "replace", "path": "/spec/size",
                                                                  "value": "large"}],
                                           headers={"Content-Type": "application/json-patch+json"})
    assert status == 200 and patched["spec"]["size"] == "large"
    status, body = await client.request("PATCH", f"{W}/f1", {"spec": {"color": "x"}},
                                        headers={"Content-Type": "application/strategic-merge-patch+json"})
    assert status == 415

    # Server-side apply merges the map list by its key, as the schema says.
    applied = widget("f1", ports=[{"name": "http", "port": 80}])
    del applied["spec"]["size"]
    status, body = await client.request(
        "PATCH", f"{W}/f1?fieldManager=a", applied, headers={"Content-Type": "application/apply-patch+yaml"})
    assert status == 200, body
    other = widget("f1", ports=[{"name": "https", "port": 443}])
    del other["spec"]["size"]
    status, body = await client.request(
        "PATCH", f"{W}/f1?fieldManager=b", other, headers={"Content-Type": "application/apply-patch+yaml"})
    assert status == 200, body
    assert sorted(body["spec"]["ports"], key=lambda p: p["name"]) == [{"name": "http", "port": 80},
                                                                      {"name": "https", "port": 443}]
    conflicting = widget("f1", ports=[{"name": "http", "port": 8080}])
    del conflicting["spec"]["size"]
    status, body = await client.request(
        "PATCH", f"{W}/f1?fieldManager=b", conflicting, headers={"Content-Type": "application/apply-patch+yaml"})
    assert status == 409 and 'conflict with "a"' in body["message"]

    async with client.session.get(client.base + W + "?watch=1&resourceVersion=0&timeoutSeconds=5") as resp:
        seen = []
        await client.request("DELETE", f"{W}/f2")
        async for line in resp.content:
            ev = json.loads(line)
            seen.append((ev["type"], ev["object"]["metadata"]["name"]))
            if ev["type"] == "DELETED":
                break
    assert ("ADDED", "f1") in seen and ("DELETED", "f2") in seen


async def test_deleting_a_crd_deletes_its_objects_then_stops_serving(client):
    await create_crd(client, widget_crd())
    for name in ("x1", "x2"):
        assert (await client.request("POST", W, widget(name)))[0] == 201
    status, crd = await client.request("DELETE", f"{CRDS}/widgets.example.com")
    assert status == 200
    assert "customresourcecleanup.apiextensions.k8s.io" in crd["metadata"]["finalizers"]

    async def gone():
        return (await client.request("GET", f"{CRDS}/widgets.example.com"))[0] == 404
    await wait_until(gone, timeout=15)
    assert (await client.request("GET", W))[0] == 404
    status, disco = await client.request("GET", "/apis")
    assert "example.com" not in [g["name"] for g in disco["groups"]]
    # A new CRD of the same name starts empty.
    await create_crd(client, widget_crd())
    assert (await client.request("GET", W))[1]["items"] == []


async def test_cluster_scoped_and_a_plural_that_is_a_builtin_one_do_not_collide(client):
    await create_crd(client, widget_crd("Cluster", plural="pods", kind="Pod", short_names=()))
    status, made = await client.request("POST", "/apis/example.com/v1/pods",
                                        {**widget("c1"), "kind": "Pod"})
    assert status == 201, made
    assert "namespace" not in made["metadata"]
    # The core pods are untouched, and these are not pods to them.
    assert (await client.request("GET", "/api/v1/namespaces/default/pods"))[1]["items"] == []
    assert [i["metadata"]["name"] for i in (await client.request("GET", "/apis/example.com/v1/pods"))[1]["items"]] == ["c1"]


async def test_names_in_use_in_the_group_are_not_accepted(client):
    await create_crd(client, widget_crd())
    clash = widget_crd(plural="gadgets", kind="Gadget", short_names=("wd",))
    status, _ = await client.request("POST", CRDS, clash)
    assert status == 201

    async def judged():
        _, crd = await client.request("GET", f"{CRDS}/gadgets.example.com")
        conds = {c["type"]: c for c in (crd.get("status") or {}).get("conditions") or []}
        return conds if "NamesAccepted" in conds else None
    conds = await wait_until(judged)
    assert conds["NamesAccepted"]["status"] == "False"
    assert conds["NamesAccepted"]["reason"] == "ShortNamesConflict"
    assert conds["NamesAccepted"]["message"] == '"wd" is already in use'
    assert conds["Established"]["status"] == "False"
    await asyncio.sleep(0.2)
    assert (await client.request("GET", "/apis/example.com/v1/namespaces/default/gadgets"))[0] == 404


async def test_a_crd_that_is_not_structural_or_has_a_bad_rule_is_refused(client):
    crd = widget_crd()
    schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    del schema["properties"]["spec"]["properties"]["color"]["type"]
    schema["properties"]["spec"]["x-kubernetes-validations"] = [{"rule": "quantity(self.size) > 1"}]
    crd["spec"]["group"] = "example"
    crd["metadata"]["name"] = "widgets.example"
    status, body = await client.request("POST", CRDS, crd)
    assert status == 422, body
    causes = {c["field"]: c["message"] for c in body["details"]["causes"]}
    assert causes["spec.group"] == 'Invalid value: "example": should be a domain with at least one dot'
    at = "spec.versions[0].schema.openAPIV3Schema.properties[spec]"
    assert causes[f"{at}.properties[color].type"] == "Required value: must not be empty for specified object fields"

    crd = widget_crd()
    crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["x-kubernetes-validations"] = [
        {"rule": "quantity(self.size) > 1"}]
    status, body = await client.request("POST", CRDS, crd)
    assert status == 422, body
    (cause,) = body["details"]["causes"]
    assert cause["field"] == f"{at}.x-kubernetes-validations[0].rule"
    assert "undeclared reference to 'quantity'" in cause["message"]
    crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["x-kubernetes-validations"] = [
        {"rule": "self.sise == 'small'"}]
    status, body = await client.request("POST", CRDS, crd)
    assert status == 422 and "undefined field 'sise'" in body["details"]["causes"][0]["message"]


async def test_versions_share_objects_stored_in_the_storage_version(client):
    crd = widget_crd()
    v1 = crd["spec"]["versions"][0]
    v1beta1 = {**json.loads(json.dumps(v1)), "name": "v1beta1", "storage": False}
    crd["spec"]["versions"] = [v1, v1beta1]
    await create_crd(client, crd)
    beta = "/apis/example.com/v1beta1/namespaces/default/widgets"
    status, made = await client.request("POST", beta, {**widget("m"), "apiVersion": "example.com/v1beta1"})
    assert status == 201 and made["apiVersion"] == "example.com/v1beta1"
    assert (await client.request("GET", f"{W}/m"))[1]["apiVersion"] == "example.com/v1"
    assert (await client.request("GET", f"{beta}/m"))[1]["apiVersion"] == "example.com/v1beta1"
    listed = (await client.request("GET", beta))[1]
    assert [i["apiVersion"] for i in listed["items"]] == ["example.com/v1beta1"]


async def test_selectable_fields_select_and_watches_see_the_version_asked_for(client):
    crd = widget_crd()
    v1 = crd["spec"]["versions"][0]
    v1["selectableFields"] = [{"jsonPath": ".spec.size"}]
    crd["spec"]["versions"] = [v1, {**json.loads(json.dumps(v1)), "name": "v1beta1", "storage": False}]
    await create_crd(client, crd)
    await client.request("POST", W, widget("small-one"))
    await client.request("POST", W, widget("large-one", size="large"))
    status, listed = await client.request("GET", W + "?fieldSelector=spec.size%3Dlarge")
    assert status == 200 and [i["metadata"]["name"] for i in listed["items"]] == ["large-one"]
    status, body = await client.request("GET", W + "?fieldSelector=spec.color%3Dred")
    assert status == 400

    beta = "/apis/example.com/v1beta1/namespaces/default/widgets"
    async with client.session.get(client.base + beta + "?watch=1&resourceVersion=0&timeoutSeconds=5") as resp:
        line = await resp.content.readline()
    assert json.loads(line)["object"]["apiVersion"] == "example.com/v1beta1"
