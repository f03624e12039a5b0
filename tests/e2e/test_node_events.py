"""Pull events from a real runc agent, as root: the API server, the gateway, a runc agent whose
image store pulls from a registry on loopback. A real pull shows Pulling then Pulled (with its
duration and the image size); the next pod of the same image finds it already present; a
missing image shows Failed with the registry's words and backs off."""

from __future__ import annotations

import re

import pytest

from agent.images import ImageStore, RegistryClient
from agent.images.build import busybox_image
from agent.node import Agent
from agent.nodeinfo import local_registration
from agent.pods import PodTimings
from agent.session import SessionConfig
from controlplane.gateway import start_gateway

from ..cluster import wait_until
from ..integration.test_images import push, registry  # noqa: F401 (fixture)
from ..integration.test_node_events import event, events_of
from .test_exec import FAST
from .test_runtime import Node, node, pytestmark  # noqa: F401  (the fixture and the root/runc skip)

PODS = "/api/v1/namespaces/default/pods"


@pytest.fixture
async def cluster(api, client, node: Node, registry, tmp_path):  # noqa: F811
    images = ImageStore(str(tmp_path / "images"), RegistryClient(auth_file=str(tmp_path / "auth.json")))

    node.rt.rootfs_for = images.rootfs  # as agent/main.py: the node's image store
    gateway = await start_gateway(api.url, "127.0.0.1:0", FAST)
    agent = Agent(gateway.address, local_registration("e1", node.rt.version, "127.0.0.1"), node.rt,
                  host_ip="127.0.0.1", pod_timings=PodTimings(resync_period=0.2, backoff_base=0.2),
                  session_config=SessionConfig(backoff_base=0.05, backoff_max=0.5)).start()
    yield client
    await agent.stop()
    await gateway.stop()
    await images.close()


def box(name: str, image: str) -> dict:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
            "spec": {"nodeName": "e1", "terminationGracePeriodSeconds": 1,
                     "containers": [{"name": "c", "image": image, "command": ["sleep", "3600"]}]}}


async def test_a_real_pull_then_already_present_then_a_missing_image(cluster, registry) -> None:  # noqa: F811
    client = cluster
    image = f"{registry.host}/e2e/box:1"
    await push(image, busybox_image())
    assert (await client.request("POST", PODS, box("first", image)))[0] == 201
    await wait_until(lambda: event(client, "first", "Started"), timeout=60)
    by_reason = {e["reason"]: e for e in await events_of(client, "first")}
    assert by_reason["Pulling"]["message"] == f'Pulling image "{image}"'
    pulled = by_reason["Pulled"]
    assert re.fullmatch(rf'Successfully pulled image "{re.escape(image)}" in \d+(\.\d+)?m?s '
                        r"\(\d+(\.\d+)?m?s including waiting\)\. Image size: [1-9]\d* bytes\.", pulled["message"])
    assert pulled["involvedObject"]["fieldPath"] == "spec.containers{c}"
    assert pulled["source"] == {"component": "pyctl-agent", "host": "e1"}
    assert by_reason["Created"]["message"] == "Created container c"

    assert (await client.request("POST", PODS, box("second", image)))[0] == 201
    present = await wait_until(lambda: event(client, "second", "Pulled"), timeout=60)
    assert present["message"] == f'Container image "{image}" already present on machine'
    assert "Pulling" not in {e["reason"] for e in await events_of(client, "second")}

    missing = f"{registry.host}/e2e/missing:1"
    assert (await client.request("POST", PODS, box("broken", missing)))[0] == 201
    await wait_until(lambda: event(client, "broken", "BackOff"), timeout=60)
    failed = [e for e in await events_of(client, "broken") if e["reason"] == "Failed"]
    messages = sorted(e["message"] for e in failed)
    assert messages[0] == "Error: ErrImagePull" and all(e["type"] == "Warning" for e in failed)
    assert messages[1].startswith(f'Failed to pull image "{missing}": ')
    backoff = await event(client, "broken", "BackOff")
    assert backoff and backoff["message"] == f'Back-off pulling image "{missing}"'


async def test_a_container_that_cannot_be_configured_reports_its_error(cluster, registry) -> None:  # noqa: F811
    client = cluster
    image = f"{registry.host}/e2e/box:1"
    await push(image, busybox_image())
    rooted = box("rooted", image)
    rooted["spec"]["containers"][0]["securityContext"] = {"runAsNonRoot": True}
    assert (await client.request("POST", PODS, rooted))[0] == 201
    failed = await wait_until(lambda: event(client, "rooted", "Failed"), timeout=60)
    assert failed["type"] == "Warning" and failed["involvedObject"]["fieldPath"] == "spec.containers{c}"
    assert failed["message"].startswith("Error: container has runAsNonRoot and image will run as root")
    assert "Started" not in {e["reason"] for e in await events_of(client, "rooted")}
