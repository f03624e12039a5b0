"""What a pod's status shows as its containers die, on a real runc agent (root), as the kubelet
shows it: a deleted pod goes Ready=False with its containers terminated before it goes, and a
crash-looping container's lastState is the run that died last."""

from __future__ import annotations

import pytest

from ..cluster import wait_until
from ..integration.test_api_watch import WatchStream
from .test_pod_config import NS, cluster, container_status  # noqa: F401  (the fixture)
from .test_runtime import Node, node, pytestmark  # noqa: F401  (the fixture and the root/runc skip)

PODS = f"{NS}/pods"


def manifest(name: str, script: str, **extra) -> dict:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
            "spec": {"nodeName": "e1", "containers": [{"name": "c", "image": "busybox",
                                                       "command": ["sh", "-c", script], **extra}]}}


def conditions(pod: dict) -> dict[str, str]:
    return {c["type"]: c["status"] for c in (pod.get("status") or {}).get("conditions") or []}


async def test_a_deleted_pod_shows_its_containers_stopped_and_not_ready_before_it_goes(cluster) -> None:
    client = cluster
    # It ends politely on SIGTERM: exit 0.
    status, body = await client.request("POST", PODS, manifest(
        "polite", "trap 'exit 0' TERM; while true; do sleep 0.1; done"))
    assert status == 201, body

    async def ready() -> bool:
        return conditions((await client.request("GET", f"{PODS}/polite"))[1]).get("Ready") == "True"
    await wait_until(ready, timeout=60)
    rv = (await client.request("GET", f"{PODS}/polite"))[1]["metadata"]["resourceVersion"]
    async with WatchStream(client.session, f"{client.base}{PODS}?watch=1&resourceVersion={rv}"
                                           "&fieldSelector=metadata.name%3Dpolite") as w:
        status, _ = await client.request("DELETE", f"{PODS}/polite")
        assert status == 200
        seen: list[dict] = []
        while not seen or seen[-1]["type"] != "DELETED":
            event = await w.next(timeout=60)
            assert event is not None, seen
            seen.append(event)
    trail = [(e["type"], conditions(e["object"]).get("Ready"), e["object"]["status"].get("phase")) for e in seen]
    stopped = [e["object"] for e in seen[:-1] if conditions(e["object"]).get("Ready") == "False"]
    assert stopped, trail
    pod = stopped[0]
    assert pod["metadata"]["deletionTimestamp"], trail
    assert pod["status"]["phase"] == "Succeeded", trail  # every container ended with 0
    assert conditions(pod)["ContainersReady"] == "False"
    (cs,) = pod["status"]["containerStatuses"]
    term = cs["state"]["terminated"]
    assert (cs["ready"], term["exitCode"], term["reason"]) == (False, 0, "Completed")
    assert term["containerID"] == cs["containerID"] and term["finishedAt"] >= term["startedAt"]


@pytest.mark.parametrize("script, extra, code, reason", [
    ("exit 3", {}, 3, "Error"),
    ("tail /dev/zero", {"resources": {"limits": {"memory": "16Mi"}}}, 137, "OOMKilled"),
], ids=["exit-3", "oom"])
async def test_crash_loop_back_off_shows_the_newest_dead_run_as_last_state(cluster, script, extra, code,
                                                                          reason) -> None:
    client = cluster
    status, body = await client.request("POST", PODS, manifest("crashy", script, **extra))
    assert status == 201, body
    waiting: list[dict] = []

    async def backing_off_again() -> bool:
        cs = await container_status(client, "crashy")
        if (cs.get("state") or {}).get("waiting", {}).get("reason") == "CrashLoopBackOff":
            waiting.append(cs)
        return len(waiting) >= 1 and waiting[-1].get("restartCount", 0) >= 2
    await wait_until(backing_off_again, timeout=90, interval=0.05)
    for cs in waiting:
        term = (cs.get("lastState") or {}).get("terminated") or {}
        # The run that died last is the status's own containerID (the kubelet's rule), not the
        # run before it; its exit code and end are there.
        assert (term.get("exitCode"), term.get("reason")) == (code, reason), cs
        assert term.get("containerID") == cs["containerID"], cs
        assert term["finishedAt"] >= term["startedAt"]
    await client.request("DELETE", f"{PODS}/crashy", params={"gracePeriodSeconds": "0"})

