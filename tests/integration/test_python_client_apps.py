"""The official kubernetes Python client on DaemonSets, StatefulSets and ControllerRevisions
(its models reject objects without their required fields), with the real controllers,
scheduler and hollow nodes (see test_replicaset_controller)."""

from __future__ import annotations

import asyncio
import time

from kubernetes import client as k8s

from .test_daemonset_controller import daemonset, ds_controller  # noqa: F401 - fixtures
from .test_python_client import apps  # noqa: F401 - fixtures
from .test_replicaset_controller import apiclient, nodes  # noqa: F401 - fixtures
from .test_statefulset_controller import statefulset, sts_controller  # noqa: F401 - fixtures


def _until(check, timeout: float = 30.0):
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.1)


def _flow(apps_api: k8s.AppsV1Api) -> None:
    ds = apps_api.create_namespaced_daemon_set("default", daemonset("agent"))
    assert ds.status.desired_number_scheduled == 0 and ds.spec.update_strategy.rolling_update.max_unavailable == 1
    sts = apps_api.create_namespaced_stateful_set("default", statefulset("db", 2))
    assert sts.status.replicas == 0 and sts.spec.pod_management_policy == "OrderedReady"
    assert _until(lambda: apps_api.read_namespaced_daemon_set_status("agent", "default").status.number_available == 3)
    assert _until(lambda: apps_api.read_namespaced_stateful_set("db", "default").status.ready_replicas == 2)
    scale = apps_api.patch_namespaced_stateful_set_scale("db", "default", {"spec": {"replicas": 3}})
    assert scale.spec.replicas == 3 and scale.status.selector == "app=db"
    assert _until(lambda: apps_api.read_namespaced_stateful_set("db", "default").status.ready_replicas == 3)
    revisions = apps_api.list_namespaced_controller_revision("default").items
    owners = sorted((r.metadata.owner_references[0].kind, r.revision) for r in revisions)
    assert owners == [("DaemonSet", 1), ("StatefulSet", 1)]
    assert [d.metadata.name for d in apps_api.list_daemon_set_for_all_namespaces().items] == ["agent"]
    apps_api.delete_namespaced_stateful_set("db", "default")
    apps_api.delete_namespaced_daemon_set("agent", "default")


async def test_python_client_reads_and_writes_the_apps_kinds(apps, nodes, ds_controller, sts_controller):  # noqa: F811
    await asyncio.to_thread(_flow, apps[0])
