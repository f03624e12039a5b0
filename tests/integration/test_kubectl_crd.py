"""The real kubectl 1.37 with CRDs and OpenAPI v3: explain to any depth, apply a CRD and its
objects, get with printer columns and categories, scale a custom kind."""

from __future__ import annotations

import json

import pytest
import yaml

from .crds import create_crd, widget, widget_crd
from .kubectl import Kubectl


@pytest.fixture
def kubectl(api, tmp_path):
    return Kubectl(api.url, tmp_path)


async def test_explain_builtin_kinds_to_any_depth(kubectl):
    out = await kubectl.ok("explain", "deployment.spec.template.spec.containers")
    assert out.startswith("GROUP:      apps\nKIND:       Deployment\nVERSION:    v1\n")
    assert "FIELD: containers <[]Container>" in out
    assert "  image\t<string>" in out and "  ports\t<[]ContainerPort>" in out
    assert "  name\t<string> -required-" in out
    out = await kubectl.ok("explain", "pods.spec.containers.resources")
    assert "FIELD: resources <ResourceRequirements>" in out and "  limits\t<map[string]" in out
    out = await kubectl.ok("explain", "configmap")
    assert "  data\t<map[string]string>" in out
    out = await kubectl.ok("explain", "crd.spec.versions.schema")
    assert "  openAPIV3Schema\t<JSONSchemaProps>" in out


async def test_explain_and_get_a_custom_kind(kubectl, client):
    await create_crd(client, widget_crd())
    out = await kubectl.ok("explain", "widget.spec")
    assert out.startswith("GROUP:      example.com\nKIND:       Widget\nVERSION:    v1\n")
    assert "  size\t<string> -required-\n  enum: small, large" in out
    assert "  ports\t<[]Object>" in out
    out = await kubectl.ok("explain", "widgets.spec.ports")
    assert "  port\t<integer>" in out and "  name\t<string> -required-" in out

    manifest = yaml.safe_dump(widget("k", replicas=2))
    assert (await kubectl.ok("apply", "-f", "-", stdin=manifest)).strip() == "widget.example.com/k created"
    assert (await kubectl.ok("apply", "-f", "-", stdin=manifest)).strip() == "widget.example.com/k unchanged"
    changed = yaml.safe_dump(widget("k", replicas=3))
    assert (await kubectl.ok("apply", "-f", "-", stdin=changed)).strip() == "widget.example.com/k configured"
    lines = (await kubectl.ok("get", "wd")).splitlines()
    assert lines[0].split() == ["NAME", "SIZE", "REPLICAS", "AGE"]
    assert lines[1].split()[:3] == ["k", "small", "3"]
    assert "widget.example.com/k" in await kubectl.ok("get", "all")
    assert (await kubectl.ok("scale", "widget", "k", "--replicas=4")).strip() == "widget.example.com/k scaled"
    assert json.loads(await kubectl.ok("get", "widget", "k", "-o", "json"))["spec"]["replicas"] == 4
    rc, out, err = await kubectl.run("apply", "-f", "-", stdin=yaml.safe_dump(widget("bad", size="huge")))
    assert rc != 0
    assert 'The Widget "bad" is invalid: \n* spec.size: Unsupported value: "huge": supported values: "small", "large"\n' in err
    # As kube-apiserver: CEL rules do not run on an object of the wrong shape, and it says so.
    assert "* <nil>: Invalid value: null: some validation rules were not checked" in err
    out = await kubectl.ok("apply", "--server-side", "--force-conflicts", "-f", "-", stdin=manifest)
    assert "serverside-applied" in out
    assert 'widget.example.com "k" deleted' in await kubectl.ok("delete", "widget", "k")
