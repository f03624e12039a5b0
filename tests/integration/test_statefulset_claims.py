"""A StatefulSet's volumeClaimTemplates against the real API server, StatefulSet controller
and garbage collector.

The StatefulSet side end to end, with the served PersistentVolumeClaim kind: claims
`<template>-<set>-<ordinal>` made before their pods, pod volumes that name them, and ownership
by retention policy, carried out by the real garbage collector and the pvc-protection
controller. No scheduler and no nodes: pods stay Pending (Parallel sets make them all); the
data side (claims bound, mounted, kept across pods) is tests/e2e/test_persistent_volumes.py's.
"""

from __future__ import annotations

import asyncio

import pytest

from controlplane.client import ApiClient
from controlplane.controllers.garbage_collector import GarbageCollector
from controlplane.controllers.pvc_protection import PvcProtectionController
from controlplane.controllers.statefulset import StatefulSetController

from ..cluster import wait_until
from .test_statefulset_controller import STS, statefulset

PVCS = "/api/v1/namespaces/default/persistentvolumeclaims"
PODS = "/api/v1/namespaces/default/pods"
MERGE = {"Content-Type": "application/merge-patch+json"}
CLAIM = {"metadata": {"name": "data"}, "spec": {"accessModes": ["ReadWriteOnce"],
                                                 "resources": {"requests": {"storage": "1Gi"}}}}
@pytest.fixture
async def controllers(api):
    client = ApiClient(api.url, user_agent="controllers")
    running = [StatefulSetController(client), GarbageCollector(client), PvcProtectionController(client)]
    for c in running:
        await c.start()
    yield running
    for c in running:
        await c.stop()
    await client.close()


def with_claims(name: str, replicas: int, when_deleted: str = "Retain", when_scaled: str = "Retain") -> dict:
    sts = statefulset(name, replicas, podManagementPolicy="Parallel", volumeClaimTemplates=[CLAIM],
                      persistentVolumeClaimRetentionPolicy={"whenDeleted": when_deleted, "whenScaled": when_scaled})
    sts["spec"]["template"]["spec"]["containers"][0]["volumeMounts"] = [{"name": "data", "mountPath": "/data"}]
    return sts


async def claims(client) -> dict[str, list[str]]:
    """claim name -> kinds of its owners."""
    _, body = await client.request("GET", PVCS)
    return {c["metadata"]["name"]: sorted(r["kind"] for r in c["metadata"].get("ownerReferences") or [])
            for c in body["items"]}


async def pod_names(client, app: str) -> list[str]:
    _, body = await client.request("GET", PODS, params={"labelSelector": f"app={app}"})
    return sorted(p["metadata"]["name"] for p in body["items"])


async def test_claims_before_pods_and_kept_by_default(client, api, controllers):
    assert (await client.request("POST", STS, with_claims("db", 2)))[0] == 201
    await wait_until(lambda: _names_are(client, "db", ["db-0", "db-1"]), timeout=15)
    assert await claims(client) == {"data-db-0": [], "data-db-1": []}  # Retain, Retain: nobody owns them
    _, pod = await client.request("GET", f"{PODS}/db-1")
    assert {"name": "data", "persistentVolumeClaim": {"claimName": "data-db-1"}} in pod["spec"]["volumes"]
    _, claim = await client.request("GET", f"{PVCS}/data-db-1")
    assert claim["metadata"]["labels"] == {"app": "db"} and claim["spec"]["resources"]["requests"]["storage"] == "1Gi"
    _, events = await client.request("GET", "/api/v1/namespaces/default/events")
    assert "create Claim data-db-0 Pod db-0 in StatefulSet db success" in {e["message"] for e in events["items"]}

    # Scaled down and deleted: the claims stay, and a new set of that name finds them again.
    await client.request("PATCH", f"{STS}/db/scale", {"spec": {"replicas": 0}}, headers=MERGE)
    await wait_until(lambda: _names_are(client, "db", []), timeout=15)
    assert (await client.request("DELETE", f"{STS}/db"))[0] == 200
    await asyncio.sleep(1.0)
    assert set(await claims(client)) == {"data-db-0", "data-db-1"}
    assert (await client.request("POST", STS, with_claims("db", 1)))[0] == 201
    await wait_until(lambda: _names_are(client, "db", ["db-0"]), timeout=15)
    assert set(await claims(client)) == {"data-db-0", "data-db-1"}


async def test_delete_policies_hand_claims_to_the_garbage_collector(client, api, controllers):
    assert (await client.request("POST", STS, with_claims("db", 3, "Delete", "Delete")))[0] == 201
    await wait_until(lambda: _names_are(client, "db", ["db-0", "db-1", "db-2"]), timeout=15)
    await wait_until(lambda: _claims_are(client, {"data-db-0": ["StatefulSet"], "data-db-1": ["StatefulSet"],
                                                  "data-db-2": ["StatefulSet"]}), timeout=15)
    # whenScaled Delete: the claims of scaled-away pods go with them...
    await client.request("PATCH", f"{STS}/db/scale", {"spec": {"replicas": 1}}, headers=MERGE)
    await wait_until(lambda: _names_are(client, "db", ["db-0"]), timeout=15)
    await wait_until(lambda: _claims_are(client, {"data-db-0": ["StatefulSet"]}), timeout=15)
    # ...and whenDeleted Delete: the rest go with the set.
    assert (await client.request("DELETE", f"{STS}/db"))[0] == 200
    await wait_until(lambda: _claims_are(client, {}), timeout=15)


async def test_changing_the_policy_moves_the_claims_ownership(client, api, controllers):
    assert (await client.request("POST", STS, with_claims("db", 2)))[0] == 201
    await wait_until(lambda: _claims_are(client, {"data-db-0": [], "data-db-1": []}), timeout=15)
    policy = {"spec": {"persistentVolumeClaimRetentionPolicy": {"whenDeleted": "Delete"}}}
    await client.request("PATCH", f"{STS}/db", policy, headers=MERGE)
    await wait_until(lambda: _claims_are(client, {"data-db-0": ["StatefulSet"], "data-db-1": ["StatefulSet"]}),
                     timeout=15)


async def _names_are(client, app: str, wanted: list[str]) -> bool:
    return await pod_names(client, app) == wanted


async def _claims_are(client, wanted: dict[str, list[str]]) -> bool:
    return await claims(client) == wanted
