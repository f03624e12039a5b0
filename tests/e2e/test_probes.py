"""Probes on a real node: the pod sync loop (`PodManager`) over `RuncRuntime`, as root.

An httpGet readiness probe reaches busybox httpd at the pod IP from the node, so the pod
becomes Ready (with a sidecar whose tcpSocket readiness waits for its exec startup probe);
an exec liveness probe (`cat /tmp/healthy`, run with `runc exec`) fails once
the file is removed, and the container is killed and restarted.
"""

from __future__ import annotations

import asyncio
from typing import Any

from agent.pods import PodTimings, PodManager

from ..cluster import wait_until
from .helpers import container, pod
from .test_runtime import Node, node, pytestmark as runtime_marks  # noqa: F401 (node: the fixture)

pytestmark = runtime_marks


def status_of(pm: PodManager, p: dict[str, Any]) -> dict[str, Any]:
    w = pm.workers.get(p["metadata"]["uid"])
    return (w.reported if w else None) or {}


def ready(st: dict[str, Any]) -> bool:
    return any(c["type"] == "Ready" and c["status"] == "True" for c in st.get("conditions") or [])


async def test_http_readiness_and_exec_liveness_probes(node: Node) -> None:
    pm = PodManager(node.rt, "127.0.0.1", PodTimings(resync_period=0.5, backoff_base=0.2, backoff_max=1.0))
    web = pod("web", [container(
        "httpd", "sh", "-c",
        "echo ok > /tmp/index.html && touch /tmp/healthy && exec httpd -f -p 8080 -h /tmp",
        ports=[{"name": "http", "containerPort": 8080}],
        readinessProbe={"httpGet": {"path": "/index.html", "port": "http",
                                    "httpHeaders": [{"name": "X-Probe", "value": "1"}]},
                        "periodSeconds": 1},
        livenessProbe={"exec": {"command": ["cat", "/tmp/healthy"]}, "periodSeconds": 1,
                       "failureThreshold": 2, "timeoutSeconds": 5}),
        # A sidecar in the same network namespace: tcpSocket readiness, gated by a startup probe.
        container("side", "sleep", "3600",
                  startupProbe={"exec": {"command": ["true"]}, "periodSeconds": 1, "timeoutSeconds": 5},
                  readinessProbe={"tcpSocket": {"port": 8080}, "periodSeconds": 1})],
        terminationGracePeriodSeconds=1)
    uid = web["metadata"]["uid"]
    try:
        pm.upsert(web)
        await wait_until(lambda: ready(status_of(pm, web)), timeout=30)
        statuses = status_of(pm, web)["containerStatuses"]
        assert [(c["name"], c["ready"], c["restartCount"]) for c in statuses] == [("httpd", True, 0), ("side", True, 0)]

        code, _ = await node.rt.exec_in_container(uid, "httpd", ["rm", "/tmp/healthy"], 5)
        assert code == 0

        def restarted() -> bool:
            cs = (status_of(pm, web).get("containerStatuses") or [{}])[0]
            return cs.get("restartCount", 0) >= 1 and bool(cs.get("lastState", {}).get("terminated"))
        await wait_until(restarted, timeout=30)
        term = status_of(pm, web)["containerStatuses"][0]["lastState"]["terminated"]
        assert (term["exitCode"], term["reason"]) == (137, "Error")  # httpd ignores TERM: KILLed
        # The new run recreates /tmp/healthy (a fresh rootfs upper) and becomes Ready again.
        await wait_until(lambda: ready(status_of(pm, web)), timeout=30)
    finally:
        pm.remove(web)
        worker = pm.workers.get(uid)
        if worker is not None:
            await asyncio.wait_for(worker.task, 30)
        await pm.stop()
    node.assert_nothing_left(uid)
