"""CRDs the CRD tests share, and waiting for one to be served."""

from __future__ import annotations

import copy

from ..cluster import wait_until

CRDS = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"

WIDGET_SCHEMA = {
    "type": "object",
    "properties": {
        "spec": {
            "type": "object",
            "required": ["size"],
            "x-kubernetes-validations": [
                {"rule": "self.replicas <= self.maxReplicas", "message": "replicas must not exceed maxReplicas"},
            ],
            "properties": {
                "size": {"type": "string", "enum": ["small", "large"]},
                "replicas": {"type": "integer", "minimum": 0, "default": 1},
                "maxReplicas": {"type": "integer", "default": 10},
                "color": {"type": "string", "pattern": "^[a-z]+$"},
                "ports": {"type": "array", "x-kubernetes-list-type": "map",
                          "x-kubernetes-list-map-keys": ["name"],
                          "items": {"type": "object", "required": ["name"],
                                    "properties": {"name": {"type": "string"}, "port": {"type": "integer"}}}},
                "tags": {"type": "array", "x-kubernetes-list-type": "set", "items": {"type": "string"}},
                "extra": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
            },
        },
        "status": {
            "type": "object",
            "properties": {"replicas": {"type": "integer"}, "selector": {"type": "string"},
                           "phase": {"type": "string"}},
        },
    },
}


def widget_crd(scope: str = "Namespaced", *, versions: list | None = None, group: str = "example.com",
               plural: str = "widgets", kind: str = "Widget", short_names=("wd",)) -> dict:
    version = {
        "name": "v1", "served": True, "storage": True,
        "schema": {"openAPIV3Schema": copy.deepcopy(WIDGET_SCHEMA)},
        "subresources": {"status": {}, "scale": {"specReplicasPath": ".spec.replicas",
                                                 "statusReplicasPath": ".status.replicas",
                                                 "labelSelectorPath": ".status.selector"}},
        "additionalPrinterColumns": [
            {"name": "Size", "type": "string", "jsonPath": ".spec.size"},
            {"name": "Replicas", "type": "integer", "jsonPath": ".spec.replicas"},
            {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
        ],
    }
    return {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": f"{plural}.{group}"},
            "spec": {"group": group, "scope": scope,
                     "names": {"plural": plural, "singular": kind.lower(), "kind": kind,
                               "shortNames": list(short_names), "categories": ["all"]},
                     "versions": versions or [version]}}


def widget(name: str, **spec) -> dict:
    return {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": name},
            "spec": {"size": "small", **spec}}


async def established(client, name: str, timeout: float = 15) -> dict:
    """Wait until the CRD is Established and its kinds are in discovery; the CRD."""
    async def ready():
        status, crd = await client.request("GET", f"{CRDS}/{name}")
        if status != 200:
            return None
        conds = {c["type"]: c["status"] for c in (crd.get("status") or {}).get("conditions") or []}
        if conds.get("Established") != "True":
            return None
        group = crd["spec"]["group"]
        version = next(v["name"] for v in crd["spec"]["versions"] if v.get("served"))
        status, listing = await client.request("GET", f"/apis/{group}/{version}")
        plural = crd["status"]["acceptedNames"]["plural"]
        return crd if status == 200 and any(r["name"] == plural for r in listing["resources"]) else None
    return await wait_until(ready, timeout=timeout)


async def create_crd(client, crd: dict) -> dict:
    status, body = await client.request("POST", CRDS, crd)
    assert status == 201, body
    return await established(client, crd["metadata"]["name"])
