"""`pods/log` end to end: hollow agents serve synthetic CRI logs over their own gRPC API, the
API server proxies them, and `pyctl logs` / the real `kubectl logs` print them."""

from __future__ import annotations

import asyncio

import pytest

from agent.hollow import run_hollow_agents, stop_agents
from agent.pods import PodTimings
from agent.session import SessionConfig
from controlplane.gateway import GatewayConfig, start_gateway

from ..cluster import wait_until
from .kubectl import Kubectl
from .test_pyctl import pyctl

FAST = GatewayConfig(heartbeat_period=0.2, lease_renew_interval=0.5, status_flush_interval=0.05)
PODS = "/api/v1/namespaces/default/pods"
STARTED = "[hollow] container {c} started (run {n}, image busybox)"
SYNTHETIC = "[hollow] this node is simulated: nothing runs, and this log is synthetic"
RUNNING = "[hollow] container {c} is running"


def pod(name: str, *containers: str, node: str = "n1", **annotations: str) -> dict:
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "labels": {"app": name}, "annotations": annotations},
            "spec": {"nodeName": node,
                     "containers": [{"name": c, "image": "busybox"} for c in containers or ("c",)]}}


def first_run(c: str = "c", n: int = 0) -> list[str]:
    return [STARTED.format(c=c, n=n), SYNTHETIC, RUNNING.format(c=c)]


@pytest.fixture
async def cluster(api, client):
    gateway = await start_gateway(api.url, "127.0.0.1:0", FAST)
    agents = await run_hollow_agents(gateway.address, ["n1"],
                                     pod_timings=PodTimings(resync_period=0.2, backoff_base=0.2),
                                     session_config=SessionConfig(backoff_base=0.05, backoff_max=0.5))
    yield client
    await stop_agents(agents)
    await gateway.stop()


async def running(client, name: str, container: str = "c") -> bool:
    status, body = await client.request("GET", f"{PODS}/{name}")
    statuses = (body.get("status") or {}).get("containerStatuses") or [] if status == 200 else []
    return any(s["name"] == container and "running" in (s.get("state") or {}) for s in statuses)


async def create_running(client, manifest: dict, container: str = "c") -> None:
    status, body = await client.request("POST", PODS, manifest)
    assert status == 201, body
    await wait_until(lambda: running(client, manifest["metadata"]["name"], container))


async def log(client, name: str, **params: str) -> tuple[int, object]:
    return await client.request("GET", f"{PODS}/{name}/log", params=params)


async def test_node_reports_the_agent_port(cluster):
    async def port():
        status, node = await cluster.request("GET", "/api/v1/nodes/n1")
        return status == 200 and (node["status"].get("daemonEndpoints") or {}).get("kubeletEndpoint")
    endpoint = await wait_until(port)
    assert endpoint["Port"] > 0


async def test_log_is_proxied_from_the_agent(cluster):
    await create_running(cluster, pod("web"))
    status, text = await log(cluster, "web")
    assert status == 200
    assert text.splitlines() == first_run()
    # The only container is the default; tail, timestamps and limitBytes as kube applies them.
    assert (await log(cluster, "web", container="c", tailLines="1"))[1] == RUNNING.format(c="c") + "\n"
    stamped = (await log(cluster, "web", timestamps="true", tailLines="1"))[1]
    ts, _, rest = stamped.partition(" ")
    assert ts.endswith("Z") and "T" in ts and rest == RUNNING.format(c="c") + "\n"
    assert (await log(cluster, "web", limitBytes="9"))[1] == "[hollow] "
    assert (await log(cluster, "web", tailLines="0"))[1] is None  # an empty body
    assert (await log(cluster, "web", sinceSeconds="3600"))[1].splitlines() == first_run()


async def test_errors_are_kube_statuses(cluster):
    status, body = await log(cluster, "nosuch")
    assert (status, body["reason"], body["message"]) == (404, "NotFound", 'pods "nosuch" not found')

    await create_running(cluster, pod("two", "a", "b"), "a")
    status, body = await log(cluster, "two")
    assert (status, body["reason"]) == (400, "BadRequest")
    assert body["message"] == "a container name must be specified for pod two, choose one of: [a b]"
    assert (await log(cluster, "two", container="b"))[1].splitlines() == first_run("b")

    status, body = await log(cluster, "two", container="a", previous="true")
    assert (status, body["message"]) == (400, 'previous terminated container "a" in pod "two" not found')

    # Not scheduled anywhere: no container has started.
    status, body = await cluster.request("POST", PODS, {**pod("pending"), "spec": {
        "containers": [{"name": "c", "image": "busybox"}], "nodeSelector": {"none": "x"}}})
    assert status == 201, body
    status, body = await log(cluster, "pending")
    assert (status, body["message"]) == (400, 'container "c" in pod "pending" is waiting to start: '
                                              "PodInitializing")


async def test_default_container_annotation(cluster):
    manifest = pod("ann", "a", "b", **{"kubectl.kubernetes.io/default-container": "b"})
    await create_running(cluster, manifest, "b")
    assert (await log(cluster, "ann"))[1].splitlines() == first_run("b")


async def test_follow_streams_until_the_container_exits_and_previous_shows_the_last_run(cluster):
    await create_running(cluster, pod("brief", **{"pyctl.io/hollow-run-seconds": "1.5"}))
    status, text = await asyncio.wait_for(log(cluster, "brief", follow="true"), 10)
    assert status == 200
    assert text.splitlines() == [*first_run(), "[hollow] container c exited with code 0"]

    async def restarted():
        _, body = await cluster.request("GET", f"{PODS}/brief")
        return any(s.get("restartCount", 0) >= 1 for s in body["status"].get("containerStatuses") or [])
    await wait_until(restarted)
    status, text = await log(cluster, "brief", previous="true")
    assert status == 200
    assert text.splitlines() == [*first_run(), "[hollow] container c exited with code 0"]


async def test_follow_flushes_lines_while_the_container_runs_on(cluster, api):
    await create_running(cluster, pod("web"))
    async with cluster.session.get(f"{api.url}{PODS}/web/log", params={"follow": "true"}) as resp:
        assert (resp.status, resp.content_type) == (200, "text/plain")
        lines = [await asyncio.wait_for(resp.content.readline(), 5) for _ in range(3)]
        assert [line.decode().rstrip("\n") for line in lines] == first_run()
        with pytest.raises(asyncio.TimeoutError):  # still open: the container runs on
            await asyncio.wait_for(resp.content.readline(), 0.5)


async def test_pyctl_logs(cluster, api):
    await create_running(cluster, pod("web"))
    r = await pyctl(api.url, "logs", "web")
    assert (r.code, r.out.splitlines(), r.err) == (0, first_run(), "")
    r = await pyctl(api.url, "logs", "web", "-c", "c", "--tail", "1", "--timestamps")
    assert r.code == 0 and r.out.endswith(" " + RUNNING.format(c="c") + "\n")
    r = await pyctl(api.url, "logs", "nosuch")
    assert (r.code, r.err) == (1, 'Error from server (NotFound): pods "nosuch" not found\n')


async def test_pyctl_logs_of_a_deployment_picks_one_pod(cluster, api):
    for name in ("d1", "d2"):
        manifest = pod(name)
        manifest["metadata"]["labels"] = {"app": "myapp"}
        await create_running(cluster, manifest)
    status, body = await cluster.request("POST", "/apis/apps/v1/namespaces/default/deployments", {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "myapp"},
        "spec": {"replicas": 0, "selector": {"matchLabels": {"app": "myapp"}},
                 "template": {"metadata": {"labels": {"app": "myapp"}},
                              "spec": {"containers": [{"name": "c", "image": "busybox"}]}}}})
    assert status == 201, body
    r = await pyctl(api.url, "logs", "deployment/myapp")
    assert r.code == 0 and r.out.splitlines() == first_run()
    assert r.err in ("Found 2 pods, using pod/d1\n", "Found 2 pods, using pod/d2\n")


async def test_pyctl_logs_follow(cluster, api):
    await create_running(cluster, pod("brief", **{"pyctl.io/hollow-run-seconds": "1.5"}))
    r = await pyctl(api.url, "logs", "-f", "brief", timeout=15)
    assert r.code == 0 and r.out.splitlines()[-1] == "[hollow] container c exited with code 0"


async def test_kubectl_logs(cluster, api, tmp_path):
    await create_running(cluster, pod("web"))
    kubectl = Kubectl(api.url, tmp_path)
    assert (await kubectl.ok("logs", "web")).splitlines() == first_run()
    assert await kubectl.ok("logs", "web", "-c", "c", "--tail=1") == RUNNING.format(c="c") + "\n"
    assert (await kubectl.ok("logs", "web", "--since=1h")).splitlines() == first_run()
    rc, _, err = await kubectl.run("logs", "nosuch")
    assert rc == 1 and 'pods "nosuch" not found' in err
