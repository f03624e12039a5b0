"""`pyctl cordon`, `uncordon` and `drain` against the real API server, gateway and hollow agents.

The nodes are registered by real (hollow) agents, which run the pods bound to them and
confirm their graceful deletion, so an eviction ends as it would on a real node. pyctl runs
as a user runs it; what changed is checked through the API.
"""

from __future__ import annotations

import datetime as dt

import pytest

from agent.hollow import run_hollow_agents, stop_agents
from agent.pods import PodTimings
from agent.session import SessionConfig
from controlplane.gateway import start_gateway
from pyctl.commands.node import (DAEMONSET_FATAL, DAEMONSET_WARNING, LOCAL_FATAL, UNMANAGED_FATAL,
                                 Policy, Verdict, go_duration, judge)
from pyctl.errors import ApiError

from ..cluster import wait_until
from .test_gateway import FAST, PODS, node_ready
from .test_pyctl import pyctl

NODES = "/api/v1/nodes"
RS = "/apis/apps/v1/namespaces/default/replicasets"
AGENT_OPTS = dict(pod_timings=PodTimings(resync_period=0.3, backoff_base=0.2),
                  session_config=SessionConfig(backoff_base=0.05, backoff_max=0.5))


@pytest.fixture
async def nodes(api, client):
    """node-1 and node-2, registered and Ready, each served by a hollow agent."""
    gateway = await start_gateway(api.url, "127.0.0.1:0", FAST)
    agents = await run_hollow_agents(f"127.0.0.1:{gateway.port}", ["node-1", "node-2"], **AGENT_OPTS)
    try:
        for name in ("node-1", "node-2"):
            await wait_until(lambda name=name: node_ready(client, name), timeout=15)
        yield api.url
    finally:
        await stop_agents(agents)
        await gateway.stop()


async def unschedulable(client, node: str) -> bool | None:
    _, body = await client.request("GET", f"{NODES}/{node}")
    return body["spec"].get("unschedulable")


async def replicaset(client, name: str = "web") -> dict:
    rs = {"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": name},
          "spec": {"replicas": 1, "selector": {"matchLabels": {"app": name}},
                   "template": {"metadata": {"labels": {"app": name}},
                                "spec": {"containers": [{"name": "c", "image": "busybox"}]}}}}
    status, body = await client.request("POST", RS, rs)
    assert status == 201, body
    return body


async def run_pod(client, name: str, node: str, owner: dict | None = None, **spec: object) -> dict:
    """A pod bound to `node` (owned by `owner` as its controller, if given), once it runs there."""
    meta: dict = {"name": name, "labels": {"app": owner["metadata"]["name"] if owner else name}}
    if owner is not None:
        meta["ownerReferences"] = [{"apiVersion": "apps/v1", "kind": "ReplicaSet",
                                    "name": owner["metadata"]["name"], "uid": owner["metadata"]["uid"],
                                    "controller": True, "blockOwnerDeletion": True}]
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": meta,
           "spec": {"nodeName": node, "containers": [{"name": "c", "image": "busybox"}], **spec}}
    status, body = await client.request("POST", PODS, pod)
    assert status == 201, body

    async def running() -> bool:
        _, live = await client.request("GET", f"{PODS}/{name}")
        return live.get("status", {}).get("phase") == "Running"
    await wait_until(running, timeout=15)
    return body


async def exists(client, name: str) -> bool:
    status, _ = await client.request("GET", f"{PODS}/{name}")
    return status == 200


# -- cordon / uncordon ---------------------------------------------------------------------------------

async def test_cordon_and_uncordon_set_and_clear_unschedulable(client, nodes):
    r = await pyctl(nodes, "cordon", "node-1")
    assert (r.code, r.out, r.err) == (0, "node/node-1 cordoned\n", "")
    assert await unschedulable(client, "node-1") is True
    assert not await unschedulable(client, "node-2")

    r = await pyctl(nodes, "cordon", "node-1")
    assert (r.code, r.out) == (0, "node/node-1 already cordoned\n")

    r = await pyctl(nodes, "uncordon", "node-1")
    assert (r.code, r.out) == (0, "node/node-1 uncordoned\n")
    assert not await unschedulable(client, "node-1")

    r = await pyctl(nodes, "uncordon", "node-1")
    assert (r.code, r.out) == (0, "node/node-1 already uncordoned\n")


async def test_server_dry_run_changes_nothing(client, nodes):
    await run_pod(client, "web-1", "node-1", await replicaset(client))
    _, before = await client.request("GET", f"{NODES}/node-1")
    r = await pyctl(nodes, "cordon", "node-1", "--dry-run=server")
    assert (r.code, r.out) == (0, "node/node-1 cordoned (server dry run)\n")
    assert not await unschedulable(client, "node-1")
    r = await pyctl(nodes, "drain", "node-1", "--dry-run=server")
    assert (r.code, r.out) == (0, "node/node-1 cordoned (server dry run)\n"
                                  "evicting pod default/web-1 (server dry run)\n"
                                  "node/node-1 drained (server dry run)\n")
    r = await pyctl(nodes, "drain", "node-1", "--dry-run=client")
    assert (r.code, r.out) == (0, "node/node-1 cordoned (dry run)\n"
                                  "evicting pod default/web-1 (dry run)\n"
                                  "node/node-1 drained (dry run)\n")
    _, live = await client.request("GET", f"{PODS}/web-1")
    assert "deletionTimestamp" not in live["metadata"]
    assert not await unschedulable(client, "node-1")
    _, after = await client.request("GET", f"{NODES}/node-1")
    assert after["spec"] == before["spec"]


async def test_cordon_by_label_selector_acts_on_every_matching_node(client, nodes):
    for name in ("node-1", "node-2"):
        status, _ = await client.request("PATCH", f"{NODES}/{name}", {"metadata": {"labels": {"pool": "blue"}}},
                                         headers={"Content-Type": "application/merge-patch+json"})
        assert status == 200
    r = await pyctl(nodes, "cordon", "-l", "pool=blue")
    assert (r.code, sorted(r.out.splitlines())) == (0, ["node/node-1 cordoned", "node/node-2 cordoned"])
    assert await unschedulable(client, "node-1") and await unschedulable(client, "node-2")

    r = await pyctl(nodes, "uncordon", "node-1", "-l", "pool=blue")
    assert r.code == 1 and "cannot specify both a node name and a --selector option" in r.err


async def test_unknown_node_is_not_found_and_nothing_changes(api, client):
    for verb in ("cordon", "uncordon", "drain"):
        r = await pyctl(api.url, verb, "x")
        assert (r.code, r.out, r.err) == (1, "", 'Error from server (NotFound): nodes "x" not found\n'), verb


async def test_a_node_argument_or_selector_is_required(api):
    r = await pyctl(api.url, "drain")
    assert r.code == 1 and r.err.startswith("error: USAGE: drain NODE [flags]")


# -- drain ----------------------------------------------------------------------------------------------

async def test_drain_evicts_managed_pods_waits_until_gone_and_leaves_node_cordoned(client, nodes):
    rs = await replicaset(client)
    await run_pod(client, "web-1", "node-1", rs)
    await run_pod(client, "web-2", "node-2", rs)

    r = await pyctl(nodes, "drain", "node-1", "--grace-period=1", "--timeout=60s")
    assert r.code == 0, r.err
    assert r.out == ("node/node-1 cordoned\n"
                     "evicting pod default/web-1\n"
                     "pod/web-1 evicted\n"
                     "node/node-1 drained\n")
    assert not await exists(client, "web-1")  # drain returned only once it was gone
    assert await exists(client, "web-2")  # another node's pod is untouched
    assert await unschedulable(client, "node-1") is True

    # Again: the node is already cordoned and has nothing left to evict.
    r = await pyctl(nodes, "drain", "node-1")
    assert (r.code, r.out) == (0, "node/node-1 already cordoned\nnode/node-1 drained\n")


async def test_drain_disable_eviction_deletes_the_pods(client, nodes):
    rs = await replicaset(client)
    await run_pod(client, "web-1", "node-2", rs)
    r = await pyctl(nodes, "drain", "node-2", "--disable-eviction", "--grace-period=1")
    assert r.code == 0, r.err
    assert r.out == "node/node-2 cordoned\npod/web-1 deleted\nnode/node-2 drained\n"
    assert not await exists(client, "web-1")


async def test_drain_refuses_unmanaged_pods_without_force_and_only_cordons(client, nodes):
    rs = await replicaset(client)
    await run_pod(client, "web-1", "node-1", rs)
    await run_pod(client, "solo", "node-1")

    r = await pyctl(nodes, "drain", "node-1")
    problem = f"cannot delete {UNMANAGED_FATAL}: default/solo"
    assert r.code == 1
    assert r.out == "node/node-1 cordoned\n"
    assert r.err == (f'error: unable to drain node "node-1" due to error: {problem}, continuing command...\n'
                     "There are pending nodes to be drained:\n node-1\n"
                     f"{problem}\n")
    # As kubectl: the node is cordoned, but no pod at all was evicted.
    assert await unschedulable(client, "node-1") is True
    assert await exists(client, "web-1") and await exists(client, "solo")

    r = await pyctl(nodes, "drain", "node-1", "--force", "--grace-period=1")
    assert r.code == 0, r.err
    assert r.err == "Warning: deleting Pods that declare no controller: default/solo\n"
    lines = r.out.splitlines()
    assert lines[0] == "node/node-1 already cordoned" and lines[-1] == "node/node-1 drained"
    assert sorted(lines[1:-1]) == ["evicting pod default/solo", "evicting pod default/web-1",
                                   "pod/solo evicted", "pod/web-1 evicted"]
    assert not await exists(client, "solo") and not await exists(client, "web-1")


async def test_drain_refuses_emptydir_pods_without_delete_emptydir_data(client, nodes):
    rs = await replicaset(client)
    await run_pod(client, "cache", "node-1", rs, volumes=[{"name": "scratch", "emptyDir": {}}])
    r = await pyctl(nodes, "drain", "node-1")
    assert r.code == 1
    assert r.err.endswith(f"\ncannot delete {LOCAL_FATAL}: default/cache\n")
    assert await exists(client, "cache")

    r = await pyctl(nodes, "drain", "node-1", "--delete-emptydir-data", "--grace-period=1")
    assert r.code == 0, r.err
    assert r.err == "Warning: deleting Pods with local storage: default/cache\n"
    assert "pod/cache evicted\n" in r.out and not await exists(client, "cache")


async def test_drain_timeout_reports_the_pods_that_did_not_go(client, nodes):
    rs = await replicaset(client)
    await run_pod(client, "stuck", "node-1", rs)
    # A finalizer nobody removes keeps the evicted pod's object around.
    status, _ = await client.request("PATCH", f"{PODS}/stuck", {"metadata": {"finalizers": ["test/hold"]}},
                                     headers={"Content-Type": "application/merge-patch+json"})
    assert status == 200
    try:
        r = await pyctl(nodes, "drain", "node-1", "--timeout=2s", "--grace-period=1")
        problem = ('error when waiting for pod "stuck" in namespace "default" to terminate: '
                   "global timeout reached: 2s")
        assert r.code == 1
        assert r.out == "node/node-1 cordoned\nevicting pod default/stuck\n"
        assert f'error: unable to drain node "node-1" due to error: {problem}, continuing command...' in r.err
        assert r.err.endswith(f"There are pending nodes to be drained:\n node-1\n{problem}\n")
    finally:
        await client.request("PATCH", f"{PODS}/stuck", {"metadata": {"finalizers": None}},
                             headers={"Content-Type": "application/merge-patch+json"})


# -- the rules, without a server ----------------------------------------------------------------------------

NOW = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)


def _pod(kind: str | None = None, phase: str = "Running", **spec: object) -> dict:
    meta: dict = {"name": "p", "namespace": "default"}
    if kind:
        meta["ownerReferences"] = [{"kind": kind, "name": "owner", "controller": True}]
    return {"metadata": meta, "spec": spec, "status": {"phase": phase}}


def _exists(ns: str, name: str) -> ApiError | None:
    return None


def _missing(ns: str, name: str) -> ApiError | None:
    return ApiError({"code": 404, "reason": "NotFound", "message": f'daemonsets.apps "{name}" not found'})


def test_daemonset_pods_block_unless_ignored_and_are_never_evicted():
    ds = _pod("DaemonSet")
    assert judge(ds, Policy(), _exists, NOW) == Verdict(False, DAEMONSET_FATAL)
    assert judge(ds, Policy(ignore_daemonsets=True), _exists, NOW) == Verdict(False, warnings=(DAEMONSET_WARNING,))
    # an orphan of a deleted DaemonSet goes only with --force
    assert judge(ds, Policy(ignore_daemonsets=True), _missing, NOW).problem == 'daemonsets.apps "owner" not found'
    assert judge(ds, Policy(force=True), _missing, NOW).delete
    # a finished pod may always go
    assert judge(_pod("DaemonSet", "Succeeded"), Policy(), _exists, NOW).delete


def test_finished_mirror_and_long_deleted_pods():
    assert judge(_pod(phase="Failed", volumes=[{"name": "v", "emptyDir": {}}]), Policy(), _exists, NOW).delete
    mirror = _pod()
    mirror["metadata"]["annotations"] = {"kubernetes.io/config.mirror": "x"}
    assert judge(mirror, Policy(), _exists, NOW) == Verdict(False)
    gone = _pod("ReplicaSet")
    gone["metadata"]["deletionTimestamp"] = "2025-12-31T23:00:00Z"
    assert judge(gone, Policy(skip_wait_seconds=60), _exists, NOW) == Verdict(False)
    assert judge(gone, Policy(), _exists, NOW).delete


def test_go_duration_text():
    assert [go_duration(s) for s in (0, 0.5, 2, 90, 3600)] == ["0s", "500ms", "2s", "1m30s", "1h0m0s"]
