"""`pyctl get` and `describe` of DaemonSets, StatefulSets and ControllerRevisions, next to
what the real kubectl 1.37 prints for the same objects (real API server, controllers,
scheduler, hollow nodes)."""

from __future__ import annotations

import json
import re

from ..cluster import wait_until
from .kubectl import Kubectl
from .test_daemonset_controller import DS, daemonset, ds_controller, rolled_out  # noqa: F401 - fixtures
from .test_pyctl import pyctl
from .test_replicaset_controller import apiclient, nodes  # noqa: F401 - fixtures
from .test_statefulset_controller import STS, ready, statefulset, sts_controller  # noqa: F401 - fixtures

CLAIM = {"metadata": {"name": "data", "labels": {"tier": "db"}},
         "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": "fast",
                  "resources": {"requests": {"storage": "2Gi"}}}}


def _without_events(text: str) -> str:
    return text.split("\nEvents:")[0]


def _ageless(text: str) -> list[list[str]]:
    """Each line's words, ages left out (the two commands run a second apart)."""
    return [[w for w in line.split() if not re.fullmatch(r"\d+[smhd](\d+[smh])?|<unknown>", w)]
            for line in text.splitlines()]


async def test_tables_get_all_and_describe_as_kubectl(api, client, nodes, ds_controller, sts_controller,  # noqa: F811
                                                      tmp_path):
    ds = daemonset("agent", "agent:1", pod={"nodeSelector": {"kubernetes.io/os": "linux"}})
    ds["spec"]["template"]["spec"].pop("nodeSelector")
    assert (await client.request("POST", DS, ds))[0] == 201
    assert (await client.request("POST", STS, statefulset("db", 2)))[0] == 201
    await wait_until(lambda: rolled_out(client, "agent"), timeout=30)
    await wait_until(lambda: ready(client, "db", 2), timeout=30)
    kubectl = Kubectl(api.url, tmp_path)

    r = await pyctl(api.url, "get", "ds,sts,controllerrevisions")
    assert r.code == 0, r.err
    assert _ageless(r.out) == _ageless(await kubectl.ok("get", "ds,sts,controllerrevisions"))
    ds_block, sts_block, cr_block = r.out.split("\n\n")
    assert ds_block.splitlines()[0].split() == ["NAME", "DESIRED", "CURRENT", "READY", "UP-TO-DATE", "AVAILABLE",
                                                "NODE", "SELECTOR", "AGE"]
    assert ds_block.splitlines()[1].split()[:7] == ["daemonset.apps/agent", "3", "3", "3", "3", "3", "<none>"]
    assert sts_block.splitlines()[0].split() == ["NAME", "READY", "AGE"]
    assert sts_block.splitlines()[1].split()[:2] == ["statefulset.apps/db", "2/2"]
    assert cr_block.splitlines()[0].split() == ["NAME", "CONTROLLER", "REVISION", "AGE"]
    controllers = sorted(line.split()[1:3] for line in cr_block.splitlines()[1:])
    assert controllers == [["daemonset.apps/agent", "1"], ["statefulset.apps/db", "1"]]

    r = await pyctl(api.url, "get", "ds", "-o", "wide")
    assert r.out.splitlines()[0].split()[-3:] == ["CONTAINERS", "IMAGES", "SELECTOR"]
    assert r.out.splitlines()[1].split()[-3:] == ["c", "agent:1", "app=agent"]
    assert _ageless(r.out) == _ageless(await kubectl.ok("get", "ds", "-o", "wide"))

    # `all` holds DaemonSets and StatefulSets (not their revisions), as on a real cluster.
    r = await pyctl(api.url, "get", "all")
    assert "daemonset.apps/agent" in r.out and "statefulset.apps/db" in r.out and "controllerrevision" not in r.out
    assert "pod/db-0" in r.out

    for kind, name in (("ds", "agent"), ("sts", "db")):
        mine = await pyctl(api.url, "describe", kind, name)
        assert mine.code == 0, mine.err
        theirs = await kubectl.ok("describe", kind, name)
        assert _without_events(mine.out) == _without_events(theirs)
    text = (await pyctl(api.url, "describe", "ds", "agent")).out
    for line in ("Desired Number of Nodes Scheduled: 3", "Number of Nodes Misscheduled: 0",
                 "Pods Status:  3 Running / 0 Waiting / 0 Succeeded / 0 Failed"):
        assert line in text.splitlines(), text


async def test_describe_statefulset_with_claim_templates_as_kubectl(api, client, tmp_path):
    sts = statefulset("db", 0, volumeClaimTemplates=[CLAIM],
                      updateStrategy={"type": "RollingUpdate", "rollingUpdate": {"partition": 1, "maxUnavailable": "50%"}})
    assert (await client.request("POST", STS, sts))[0] == 201
    kubectl = Kubectl(api.url, tmp_path)
    mine = (await pyctl(api.url, "describe", "sts", "db")).out
    assert mine == await kubectl.ok("describe", "sts", "db")
    for line in ("  Partition:            1", "  MaxUnavailable:       50%", "Volume Claims:", "  Name:          data",
                 "  StorageClass:  fast", "  Capacity:      2Gi", "  Access Modes:  [ReadWriteOnce]"):
        assert line in mine.splitlines(), mine
    listed = json.loads((await pyctl(api.url, "get", "sts", "db", "-o", "json")).out)
    assert listed["spec"]["volumeClaimTemplates"][0]["spec"]["volumeMode"] == "Filesystem"


async def test_kubectl_apply_client_then_server_side_and_set_image(api, client, tmp_path):
    """kubectl's defaults (OpenAPI validation), then server-side apply of the same manifest
    without conflicts (the pod template's lists merge by key), and `set image` changing only
    the image."""
    manifest = json.dumps(daemonset("agent", "agent:1"))
    kubectl = Kubectl(api.url, tmp_path)
    assert await kubectl.ok("apply", "-f", "-", stdin=manifest) == "daemonset.apps/agent created\n"
    out = await kubectl.ok("apply", "-f", "-", "--server-side", stdin=manifest)
    assert out == "daemonset.apps/agent serverside-applied\n"
    await kubectl.ok("set", "image", "ds/agent", "c=agent:2")
    _, ds = await client.request("GET", f"{DS}/agent")
    c, = ds["spec"]["template"]["spec"]["containers"]
    assert (c["image"], c["imagePullPolicy"]) == ("agent:2", "IfNotPresent")
