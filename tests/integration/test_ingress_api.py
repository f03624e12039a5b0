"""Ingress and IngressClass (networking.k8s.io/v1) on the real API server: discovery, rules with
kube's wording, the default class filled in on create, the tables kubectl shows, and
`kubectl create ingress` (a protobuf body)."""

from __future__ import annotations

import json

from controlplane.machinery.ingress import default_class_object

from .kubectl import Kubectl

ING = "/apis/networking.k8s.io/v1/namespaces/default/ingresses"
CLASSES = "/apis/networking.k8s.io/v1/ingressclasses"
TABLE = {"Accept": "application/json;as=Table;v=v1;g=meta.k8s.io"}


def ingress(name: str, **spec) -> dict:
    rules = [{"host": "a.example", "http": {"paths": [
        {"path": "/", "pathType": "Prefix", "backend": {"service": {"name": "a", "port": {"number": 80}}}}]}}]
    return {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": {"name": name},
            "spec": {"rules": rules, **spec}}


async def test_served_in_discovery_with_short_name(client):
    code, body = await client.request("GET", "/apis/networking.k8s.io/v1")
    assert code == 200
    by_name = {r["name"]: r for r in body["resources"]}
    assert by_name["ingresses"]["shortNames"] == ["ing"] and by_name["ingresses"]["namespaced"] is True
    assert "ingresses/status" in by_name
    assert by_name["ingressclasses"]["namespaced"] is False


async def test_default_class_is_filled_in_on_create_only(client):
    code, body = await client.request("POST", ING, ingress("before"))
    assert code == 201, body
    assert "ingressClassName" not in body["spec"]  # no default class yet
    assert body["status"] == {"loadBalancer": {}}
    code, body = await client.request("POST", CLASSES, default_class_object())
    assert code == 201, body
    code, body = await client.request("POST", ING, ingress("after"))
    assert code == 201 and body["spec"]["ingressClassName"] == "pyctl", body
    code, body = await client.request("POST", ING, ingress("chosen", ingressClassName="other"))
    assert code == 201 and body["spec"]["ingressClassName"] == "other", body
    legacy = ingress("legacy")
    legacy["metadata"]["annotations"] = {"kubernetes.io/ingress.class": "nginx"}
    code, body = await client.request("POST", ING, legacy)
    assert code == 201 and "ingressClassName" not in body["spec"], body
    code, body = await client.request("GET", f"{ING}/before")
    assert "ingressClassName" not in body["spec"]  # existing Ingresses are left alone


async def test_invalid_ingresses_read_like_kube(client):
    bad = ingress("bad")
    bad["spec"]["rules"][0]["host"] = "10.0.0.1"
    bad["spec"]["rules"][0]["http"]["paths"][0].update(path="relative", pathType="Exact")
    bad["spec"]["rules"][0]["http"]["paths"][0]["backend"] = {"service": {"name": "a", "port": {}}}
    code, body = await client.request("POST", ING, bad)
    assert code == 422
    causes = {c["field"]: c["message"] for c in body["details"]["causes"]}
    assert causes == {
        "spec.rules[0].host": 'Invalid value: "10.0.0.1": must be a DNS name, not an IP address',
        "spec.rules[0].http.paths[0].path": 'Invalid value: "relative": must be an absolute path',
        "spec.rules[0].http.paths[0].backend.service.port": "Required value: port name or number is required",
    }
    code, body = await client.request("POST", ING, {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
                                                    "metadata": {"name": "empty"}, "spec": {}})
    assert code == 422 and "either `defaultBackend` or `rules` must be specified" in body["message"]
    wild = ingress("wild")
    wild["spec"]["rules"][0]["host"] = "*.example.com"
    assert (await client.request("POST", ING, wild))[0] == 201


async def test_class_controller_is_a_domain_path_that_never_changes(client):
    code, body = await client.request("POST", CLASSES, {"apiVersion": "networking.k8s.io/v1", "kind": "IngressClass",
                                                        "metadata": {"name": "x"}, "spec": {"controller": "nope"}})
    assert code == 422 and 'spec.controller: Invalid value: "nope": must be a domain-prefixed path' in body["message"]
    code, body = await client.request("POST", CLASSES, default_class_object())
    assert code == 201
    code, body = await client.request("PATCH", f"{CLASSES}/pyctl", data=json.dumps({"spec": {"controller": "a.io/b"}}),
                                      headers={"Content-Type": "application/merge-patch+json"})
    assert code == 422 and "field is immutable" in body["message"], body


async def test_tables_show_class_hosts_address_and_ports(client):
    await client.request("POST", CLASSES, default_class_object())
    tls = ingress("web", tls=[{"hosts": ["a.example"], "secretName": "cert"}])
    tls["spec"]["rules"].append({"host": "b.example", "http": tls["spec"]["rules"][0]["http"]})
    code, body = await client.request("POST", ING, tls)
    assert code == 201
    body["status"] = {"loadBalancer": {"ingress": [{"ip": "172.30.1.11"}, {"ip": "172.30.1.12"}]}}
    code, body = await client.request("PUT", f"{ING}/web/status", body)
    assert code == 200, body
    code, table = await client.request("GET", ING, headers=TABLE)
    assert [c["name"] for c in table["columnDefinitions"]] == ["Name", "Class", "Hosts", "Address", "Ports", "Age"]
    assert table["rows"][0]["cells"][:5] == ["web", "pyctl", "a.example,b.example", "172.30.1.11,172.30.1.12",
                                             "80, 443"]
    code, table = await client.request("GET", CLASSES, headers=TABLE)
    assert table["rows"][0]["cells"][:3] == ["pyctl", "pyctl.io/ingress", "<none>"]


async def test_kubectl_create_ingress_sends_protobuf_we_read(api, client, tmp_path):
    kubectl = Kubectl(api.url, tmp_path)
    await kubectl.ok("create", "ingress", "simple", "--rule=foo.example/bar*=svc1:8080",
                     "--rule=foo.example/exact=svc2:http,tls=my-cert", "--default-backend=def:80")
    code, body = await client.request("GET", f"{ING}/simple")
    assert code == 200, body
    spec = body["spec"]
    assert spec["defaultBackend"] == {"service": {"name": "def", "port": {"number": 80}}}
    paths = [p for rule in spec["rules"] for p in rule["http"]["paths"]]
    assert {(p["path"], p["pathType"], json.dumps(p["backend"]["service"], sort_keys=True)) for p in paths} == {
        ("/bar", "Prefix", '{"name": "svc1", "port": {"number": 8080}}'),
        ("/exact", "Exact", '{"name": "svc2", "port": {"name": "http"}}')}
    assert spec["tls"] == [{"hosts": ["foo.example"], "secretName": "my-cert"}]
