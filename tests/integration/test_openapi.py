"""OpenAPI v3 as kube-apiserver serves it: an index of hashed links, one document per
group-version with full component schemas (built-in and CRD kinds), cached by hash and ETag."""

from __future__ import annotations

from .crds import CRDS, create_crd, widget_crd
from ..cluster import wait_until


def _schema_of(doc: dict, group: str, version: str, kind: str) -> tuple[str, dict]:
    for name, schema in doc["components"]["schemas"].items():
        if {"group": group, "version": version, "kind": kind} in schema.get("x-kubernetes-group-version-kind", []):
            return name, schema
    raise AssertionError(f"no schema for {group}/{version} {kind}")


async def test_documents_carry_every_kind_with_its_schema_and_patch_metadata(client):
    status, index = await client.request("GET", "/openapi/v3")
    assert status == 200
    url = index["paths"]["apis/apps/v1"]["serverRelativeURL"]
    assert url.startswith("/openapi/v3/apis/apps/v1?hash=")
    status, doc = await client.request("GET", url)
    name, deployment = _schema_of(doc, "apps", "v1", "Deployment")
    assert name == "io.k8s.api.apps.v1.Deployment"
    schemas = doc["components"]["schemas"]
    containers = schemas["io.k8s.api.core.v1.PodSpec"]["properties"]["containers"]
    assert containers["x-kubernetes-patch-merge-key"] == "name"
    assert containers["x-kubernetes-patch-strategy"] == "merge"
    assert containers["items"] == {"$ref": "#/components/schemas/io.k8s.api.core.v1.Container"}
    assert schemas["io.k8s.apimachinery.pkg.util.intstr.IntOrString"]["format"] == "int-or-string"
    patch = doc["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"]["patch"]
    assert patch["x-kubernetes-group-version-kind"] == {"group": "apps", "version": "v1", "kind": "Deployment"}
    assert "fieldValidation" in [p["name"] for p in patch["parameters"]]
    assert "application/strategic-merge-patch+json" in patch["requestBody"]["content"]
    # Every $ref resolves inside the document.
    refs: set[str] = set()

    def walk(node):
        if isinstance(node, dict):
            if isinstance(node.get("$ref"), str):
                refs.add(node["$ref"].rsplit("/", 1)[1])
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)
    walk(doc)
    assert refs <= set(schemas)


async def test_hash_links_are_immutable_and_change_with_a_crd(client):
    _, index = await client.request("GET", "/openapi/v3")
    assert "apis/example.com/v1" not in index["paths"]
    url = index["paths"]["apis/apps/v1"]["serverRelativeURL"]
    async with client.session.get(client.base + url) as resp:
        assert resp.status == 200 and resp.headers["Cache-Control"] == "public, immutable"
        etag = resp.headers["ETag"]
    async with client.session.get(client.base + "/openapi/v3/apis/apps/v1",
                                  headers={"If-None-Match": etag}) as resp:
        assert resp.status == 304
    async with client.session.get(client.base + "/openapi/v3/apis/apps/v1?hash=OLD",
                                  allow_redirects=False) as resp:
        assert resp.status == 301 and resp.headers["Location"] == url

    crd = await create_crd(client, widget_crd())
    _, index = await client.request("GET", "/openapi/v3")
    first = index["paths"]["apis/example.com/v1"]["serverRelativeURL"]
    _, doc = await client.request("GET", first)
    name, widget = _schema_of(doc, "example.com", "v1", "Widget")
    assert name == "com.example.v1.Widget"
    assert widget["properties"]["spec"]["required"] == ["size"]
    assert widget["properties"]["metadata"]["allOf"] == [
        {"$ref": "#/components/schemas/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"}]
    assert "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta" in doc["components"]["schemas"]
    patch = doc["paths"]["/apis/example.com/v1/namespaces/{namespace}/widgets/{name}"]["patch"]
    assert "application/strategic-merge-patch+json" not in patch["requestBody"]["content"]
    assert "/apis/example.com/v1/namespaces/{namespace}/widgets/{name}/scale" in doc["paths"]

    crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]["note"] = {
        "type": "string"}
    status, _ = await client.request("PUT", f"{CRDS}/widgets.example.com", crd)
    assert status == 200

    async def changed():
        _, index = await client.request("GET", "/openapi/v3")
        url = index["paths"]["apis/example.com/v1"]["serverRelativeURL"]
        return url if url != first else None
    second = await wait_until(changed)
    _, doc = await client.request("GET", second)
    assert "note" in _schema_of(doc, "example.com", "v1", "Widget")[1]["properties"]["spec"]["properties"]
