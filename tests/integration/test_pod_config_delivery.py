"""Secrets and ConfigMaps reach a node only with the pods bound to it (the node authorizer rule),
and follow changes: real API server and gateway, hollow agents over gRPC on loopback."""

from __future__ import annotations

import base64

from ..cluster import wait_until
from .test_gateway import PODS, agents, gateway, node_ready  # noqa: F401 (fixtures)

SECRETS = "/api/v1/namespaces/default/secrets"
CONFIGMAPS = "/api/v1/namespaces/default/configmaps"


def b64(s: str) -> str:
    return base64.b64encode(s.encode()).decode()


def secret(name: str, **data: str) -> dict:
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name},
            "data": {k: b64(v) for k, v in data.items()}}


def pod(name: str, node: str, secret_name: str, configmap: str = "") -> dict:
    env = [{"name": "PW", "valueFrom": {"secretKeyRef": {"name": secret_name, "key": "pw"}}}]
    volumes = [{"name": "cfg", "configMap": {"name": configmap}}] if configmap else []
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
            "spec": {"nodeName": node, "volumes": volumes,
                     "containers": [{"name": "c", "image": "busybox", "env": env}]}}


def received(agent, uid: str) -> dict:
    """What the agent holds for that pod: (kind, name) -> data (None: absent)."""
    return {(k, n): (o or {}).get("data") if o else None
            for (k, _ns, n), o in agent.pods.configs.objects(uid).items()}


async def test_a_node_receives_only_the_secrets_of_its_own_pods_and_their_updates(client, agents):
    a, b = await agents("node-a", "node-b")
    for n in ("node-a", "node-b"):
        await wait_until(lambda n=n: node_ready(client, n), timeout=15)
    assert (await client.request("POST", SECRETS, secret("sa", pw="alpha")))[0] == 201
    assert (await client.request("POST", SECRETS, secret("sb", pw="bravo")))[0] == 201
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "settings"}, "data": {"mode": "fast"}}
    assert (await client.request("POST", CONFIGMAPS, cm))[0] == 201
    _, pa = await client.request("POST", PODS, pod("pa", "node-a", "sa", "settings"))
    _, pb_ = await client.request("POST", PODS, pod("pb", "node-b", "sb"))
    ua, ub = pa["metadata"]["uid"], pb_["metadata"]["uid"]

    await wait_until(lambda: ("Secret", "sa") in received(a, ua), timeout=15)
    assert received(a, ua) == {("Secret", "sa"): {"pw": b64("alpha")}, ("ConfigMap", "settings"): {"mode": "fast"}}
    await wait_until(lambda: ("Secret", "sb") in received(b, ub), timeout=15)
    # Node b holds nothing of pod pa's, node a nothing of pb's: not even the names.
    held_a = {key for uid in a.pods.desired for key in received(a, uid)}
    held_b = {key for uid in b.pods.desired for key in received(b, uid)}
    assert ("Secret", "sb") not in held_a and ("Secret", "sa") not in held_b
    assert ("ConfigMap", "settings") not in held_b

    # An update of a referenced object is sent again, to that node only.
    cm_new = {**cm, "data": {"mode": "slow"}}
    assert (await client.request("PUT", f"{CONFIGMAPS}/settings", cm_new))[0] == 200
    await wait_until(lambda: received(a, ua).get(("ConfigMap", "settings")) == {"mode": "slow"}, timeout=15)
    assert ("ConfigMap", "settings") not in {key for uid in b.pods.desired for key in received(b, uid)}


async def test_a_missing_secret_arrives_once_it_is_created(client, agents):
    (a,) = await agents("node-a")
    await wait_until(lambda: node_ready(client, "node-a"), timeout=15)
    _, p = await client.request("POST", PODS, pod("late", "node-a", "later"))
    uid = p["metadata"]["uid"]
    await wait_until(lambda: uid in a.pods.desired, timeout=15)
    assert received(a, uid) == {("Secret", "later"): None}  # referenced, absent
    assert (await client.request("POST", SECRETS, secret("later", pw="now")))[0] == 201
    await wait_until(lambda: received(a, uid) == {("Secret", "later"): {"pw": b64("now")}}, timeout=15)
    assert (await client.request("DELETE", f"{SECRETS}/later"))[0] == 200
    await wait_until(lambda: received(a, uid) == {("Secret", "later"): None}, timeout=15)
