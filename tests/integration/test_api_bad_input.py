"""Bad input gets a precise metav1.Status and changes nothing in etcd."""

from __future__ import annotations

import copy
import json

import pytest

from .test_api_crud import DEPLOY, DEPLOYS, raw_keys


@pytest.fixture
async def before(client, etcd):
    await client.request("POST", DEPLOYS, DEPLOY)
    return await raw_keys(etcd)


async def _assert_unchanged(etcd, before):
    assert await raw_keys(etcd) == before


async def test_malformed_json_and_yaml(client, etcd, before):
    status, body = await client.request("POST", DEPLOYS, data="{not json",
                                        headers={"Content-Type": "application/json"})
    assert status == 400 and body["reason"] == "BadRequest" and "not valid JSON" in body["message"]
    status, body = await client.request("POST", DEPLOYS, data="a: [b\n", headers={"Content-Type": "application/yaml"})
    assert status == 400 and "not valid YAML" in body["message"]
    status, body = await client.request("POST", DEPLOYS, data="[1, 2]",
                                        headers={"Content-Type": "application/json"})
    assert status == 400 and "must be an object" in body["message"]
    await _assert_unchanged(etcd, before)


async def test_yaml_body_is_accepted_when_declared(client):
    doc = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: from-yaml\ndata:\n  a: '1'\n"
    status, body = await client.request("POST", "/api/v1/namespaces/default/configmaps", data=doc,
                                        headers={"Content-Type": "application/yaml"})
    assert status == 201 and body["data"] == {"a": "1"}


async def test_wrong_kind_for_the_url(client, etcd, before):
    svc = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "x"}, "spec": {}}
    status, body = await client.request("POST", DEPLOYS, svc)
    assert status == 400 and "expected apps/v1 Deployment" in body["message"]
    await _assert_unchanged(etcd, before)


async def test_schema_violation_names_the_field(client, etcd, before):
    bad = copy.deepcopy(DEPLOY)
    bad["metadata"]["name"] = "other"
    bad["spec"]["replicas"] = -1
    status, body = await client.request("POST", DEPLOYS, bad)
    assert status == 422 and body["reason"] == "Invalid"
    assert body["details"]["kind"] == "Deployment" and body["details"]["name"] == "other"
    fields = [c["field"] for c in body["details"]["causes"]]
    assert "spec.replicas" in fields
    assert body["message"].startswith('Deployment.apps "other" is invalid: ')
    await _assert_unchanged(etcd, before)


async def test_selector_must_match_template(client, etcd, before):
    bad = copy.deepcopy(DEPLOY)
    bad["metadata"]["name"] = "mismatch"
    bad["spec"]["template"]["metadata"]["labels"] = {"app": "other"}
    status, body = await client.request("POST", DEPLOYS, bad)
    assert status == 422
    assert any("selector" in c["message"] or "selector" in c["field"] for c in body["details"]["causes"])
    await _assert_unchanged(etcd, before)


async def test_strict_field_validation_rejects_unknown_fields(client, etcd, before):
    bad = copy.deepcopy(DEPLOY)
    bad["metadata"]["name"] = "strict"
    bad["spec"]["replicaz"] = 3
    status, body = await client.request("POST", DEPLOYS + "?fieldValidation=Strict", bad)
    assert status == 400 and body["message"] == 'strict decoding error: unknown field "spec.replicaz"'
    await _assert_unchanged(etcd, before)


async def test_warn_field_validation_drops_unknown_fields_with_a_warning(client):
    obj = copy.deepcopy(DEPLOY)
    obj["metadata"]["name"] = "warned"
    obj["spec"]["replicaz"] = 3
    resp = await client.session.post(client.base + DEPLOYS + "?fieldValidation=Warn", json=obj)
    body = await resp.json()
    assert resp.status == 201 and "replicaz" not in body["spec"]
    assert 'unknown field \\"spec.replicaz\\"' in resp.headers.get("Warning", "")


async def test_oversize_body_is_413(client, etcd, before):
    big = copy.deepcopy(DEPLOY)
    big["metadata"]["name"] = "big"
    big["metadata"]["annotations"] = {"blob": "x" * (4 * 1024 * 1024)}
    status, body = await client.request("POST", DEPLOYS, data=json.dumps(big),
                                        headers={"Content-Type": "application/json"})
    assert status == 413 and body["kind"] == "Status"
    await _assert_unchanged(etcd, before)


async def test_resource_version_on_create_and_bad_names(client, etcd, before):
    obj = copy.deepcopy(DEPLOY)
    obj["metadata"].update(name="x", resourceVersion="5")
    status, body = await client.request("POST", DEPLOYS, obj)
    assert status == 400 and "resourceVersion should not be set" in body["message"]
    obj = copy.deepcopy(DEPLOY)
    obj["metadata"]["name"] = "Bad_Name"
    status, body = await client.request("POST", DEPLOYS, obj)
    assert status == 422 and body["details"]["causes"][0]["field"] == "metadata.name"
    await _assert_unchanged(etcd, before)


async def test_invalid_json_patch_changes_nothing(client, etcd, before):
    ops = [{"op": "replace", "path": "/spec/nosuch/deep", "value": 1}]
    status, body = await client.request("PATCH", f"{DEPLOYS}/myapp", data=json.dumps(ops),
                                        headers={"Content-Type": "application/json-patch+json"})
    assert status in (400, 422) and body["kind"] == "Status"
    patch = {"spec": {"replicas": "three"}}
    status, body = await client.request("PATCH", f"{DEPLOYS}/myapp", data=json.dumps(patch),
                                        headers={"Content-Type": "application/merge-patch+json"})
    assert status == 422 and body["details"]["causes"][0]["field"] == "spec.replicas"
    await _assert_unchanged(etcd, before)


async def test_negative_limit_and_resource_version_are_400(client):
    status, body = await client.request("GET", DEPLOYS + "?limit=-1")
    assert status == 400 and body["reason"] == "BadRequest"
    assert body["message"] == "limit: Invalid value: -1: must be greater than or equal to 0"
    for rv in ("-1", "abc", "1.5"):
        for query in (f"?resourceVersion={rv}", f"?watch=1&resourceVersion={rv}"):
            status, body = await client.request("GET", DEPLOYS + query)
            assert status == 400, (query, body)
            assert body["message"] == (f'resourceVersion: Invalid value: "{rv}": strconv.ParseUint: '
                                       f'parsing "{rv}": invalid syntax')
    status, body = await client.request("GET", f"{DEPLOYS}/myapp?resourceVersion=-1")
    assert status == 400 and "strconv.ParseUint" in body["message"]


async def test_a_resource_version_far_ahead_is_kubes_too_large_timeout(client):
    """kube-apiserver waits a little (3 s) for a resourceVersion it has not reached, then
    answers 504 "Too large resource version" (client-go retries on its cause)."""
    far = 9000000000000000
    for query in (f"?watch=1&resourceVersion={far}", f"?resourceVersion={far}"):
        resp = await client.session.get(client.base + DEPLOYS + query)
        body = await resp.json()
        assert resp.status == 504, (query, body)
        assert resp.headers["Retry-After"] == "1"
        assert body["reason"] == "Timeout"
        assert body["message"].startswith(f"Timeout: Too large resource version: {far}, current: ")
        assert body["details"]["causes"] == [{"reason": "ResourceVersionTooLarge",
                                              "message": "Too large resource version"}]
        assert body["details"]["retryAfterSeconds"] == 1
