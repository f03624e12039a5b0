"""Prometheus metrics: the API server's /metrics (kube's names, no per-object labels) behind
authentication and RBAC (system:monitoring), the components' families appended to it from the
child process or inline, and each agent's own /metrics.

A process has one registry of each kind, shared by every server a test process starts: counts
are read as differences between two scrapes."""

from __future__ import annotations

import asyncio
import subprocess
import sys

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from agent.hollow import hollow_agent
from controlplane.components import ComponentsConfig, run_components
from controlplane.controllers.manager import ManagerConfig

from ..cluster import free_port, wait_until
from .secure_api import admin, call, secure_api  # noqa: F401 (fixtures)
from .test_componentsproc import REPO

PODS = "/api/v1/namespaces/default/pods"
POD = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "very-particular-name"},
       "spec": {"containers": [{"name": "c", "image": "busybox"}]}}


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of an exposition (which must parse, each family once) by name and labels."""
    out, families = {}, set()
    for family in text_string_to_metric_families(text):
        assert family.name not in families, f"family {family.name} twice"
        families.add(family.name)
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def value(found: dict, family: str, **labels: str) -> float:
    return sum(v for (n, ls), v in found.items() if n == family and all((k, labels[k]) in ls for k in labels))


async def scrape(url: str, session: aiohttp.ClientSession | None = None) -> tuple[int, str]:
    own = session is None
    session = session or aiohttp.ClientSession()
    try:
        async with session.get(f"{url}/metrics" if own else "/metrics") as resp:
            return resp.status, await resp.text()
    finally:
        if own:
            await session.close()


def grown(before: dict, after: dict, family: str, **labels: str) -> float:
    return value(after, family, **labels) - value(before, family, **labels)


async def test_api_server_requests_etcd_and_watch_cache(api, client):
    before = samples((await scrape(api.url))[1])
    assert (await client.request("POST", PODS, POD))[0] == 201
    assert (await client.request("GET", f"{PODS}/very-particular-name"))[0] == 200
    assert (await client.request("GET", f"{PODS}/nosuch"))[0] == 404
    code, text = await scrape(api.url)
    assert code == 200
    found = samples(text)
    assert grown(before, found, "apiserver_request_total", verb="POST", resource="pods", scope="namespace",
                 code="201") == 1
    assert grown(before, found, "apiserver_request_total", verb="GET", resource="pods", scope="resource",
                 code="404") == 1
    assert grown(before, found, "apiserver_request_duration_seconds_count", verb="GET", resource="pods") == 2
    assert grown(before, found, "etcd_requests_total", operation="create", type="pods") == 1
    assert grown(before, found, "etcd_request_duration_seconds_count", operation="create", type="pods") == 1
    assert value(found, "apiserver_storage_objects", resource="pods") == 1  # this server's cache
    assert value(found, "process_cpu_seconds_total") > 0
    assert "very-particular-name" not in text  # labels never name an object


async def test_watches_are_long_running_requests(api, client):
    before = samples((await scrape(api.url))[1])
    open_before = value(before, "apiserver_longrunning_requests", verb="WATCH", resource="pods")
    async with aiohttp.ClientSession() as s:
        async with s.get(f"{api.url}{PODS}?watch=1&timeoutSeconds=2") as resp:
            assert resp.status == 200

            async def watching():
                found = samples((await scrape(api.url))[1])
                return value(found, "apiserver_longrunning_requests", verb="WATCH", resource="pods") == open_before + 1 \
                    and value(found, "apiserver_registered_watchers", kind="Pod") == 1
            await wait_until(watching, timeout=5)
            await resp.read()  # the server ends it after timeoutSeconds

    async def ended() -> bool:
        found = samples((await scrape(api.url))[1])
        return value(found, "apiserver_longrunning_requests", verb="WATCH", resource="pods") == open_before
    await wait_until(ended, timeout=5)
    found = samples((await scrape(api.url))[1])
    assert grown(before, found, "apiserver_request_total", verb="WATCH", resource="pods", code="200") == 1
    assert grown(before, found, "apiserver_request_duration_seconds_count", verb="WATCH") == 0  # not timed


async def test_metrics_need_a_user_the_monitoring_role_allows(secure_api, admin):
    async with secure_api.session() as anonymous, secure_api.session("bob") as bob:
        assert (await scrape("", anonymous))[0] == 401
        assert (await scrape("", bob))[0] == 403
    cert = secure_api.client_cert("prometheus", groups=("system:monitoring",))
    async with secure_api.session(cert=cert) as prometheus:
        code, text = await scrape("", prometheus)
        assert code == 200 and "apiserver_request_total" in text
        assert (await call(prometheus, "GET", PODS))[0] == 403  # /metrics only, not the API
    assert (await scrape("", admin))[0] == 200
    _, role = await call(admin, "GET", "/apis/rbac.authorization.k8s.io/v1/clusterroles/system:monitoring")
    assert {"nonResourceURLs": ["/healthz", "/healthz/*", "/livez", "/livez/*", "/readyz", "/readyz/*",
                                "/metrics", "/metrics/slis"], "verbs": ["get"]} in role["rules"]


async def test_inline_components_are_appended(api, client):
    from controlplane.api import metrics as api_metrics
    from controlplane import exposition

    config = ComponentsConfig(controllers=ManagerConfig(leader_election=False),
                              gateway_listen=f"127.0.0.1:{free_port()}")
    running = await run_components(api.url, {"scheduler", "controllers", "gateway"}, config)

    async def inline() -> bytes:
        return exposition.render(exposition.COMPONENTS)
    api_metrics.set_components_source(api.app(), inline)
    before = samples((await scrape(api.url))[1])
    try:
        assert (await client.request("POST", PODS, POD))[0] == 201

        async def seen():
            found = samples((await scrape(api.url))[1])
            return grown(before, found, "workqueue_adds_total", name="serviceaccounts") > 0 and \
                grown(before, found, "scheduler_schedule_attempts_total", result="unschedulable") >= 1
        await wait_until(seen, timeout=15)
        found = samples((await scrape(api.url))[1])
        assert ("scheduler_pending_pods", (("queue", "unschedulable"),)) in found
        assert value(found, "pyctl_gateway_sessions") == 0
    finally:
        api_metrics.set_components_source(api.app(), None)
        await running.stop()


async def test_the_child_process_families_reach_the_api_servers_metrics(etcd, tmp_path):
    port = free_port()
    log = tmp_path / "controlplane.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "controlplane", "--etcd-servers", etcd.url,
                                 "--listen", f"127.0.0.1:{port}", "--gateway-listen", f"127.0.0.1:{free_port()}",
                                 "--gateway-join-listen", f"127.0.0.1:{free_port()}"],
                                cwd=REPO, stdout=out, stderr=out)
    try:
        async def both():
            try:
                code, text = await scrape(f"http://127.0.0.1:{port}")
            except aiohttp.ClientError:
                return False
            return code == 200 and 'workqueue_depth{name="deployment"}' in text and "apiserver_request_total" in text
        await wait_until(both, timeout=30)
        found = samples((await scrape(f"http://127.0.0.1:{port}"))[1])
        assert value(found, "pyctl_components_process_cpu_seconds_total") > 0
        assert value(found, "process_cpu_seconds_total") > 0  # the API server's own process
        assert ("workqueue_depth", (("name", "deployment"),)) in found
    finally:
        proc.terminate()
        proc.wait(30)
    assert proc.returncode == 0, log.read_text()


async def test_agent_metrics(api, client):
    port, metrics_port = free_port(), free_port()
    config = ComponentsConfig(controllers=ManagerConfig(leader_election=False, controllers=("nodeipam",)),
                              gateway_listen=f"127.0.0.1:{port}")
    running = await run_components(api.url, {"scheduler", "gateway"}, config)
    agent = hollow_agent(f"127.0.0.1:{port}", "metered", metrics_listen=f"127.0.0.1:{metrics_port}").start()
    before: dict = {}
    pod = {**POD, "spec": {"containers": [{"name": "c", "image": "busybox", "readinessProbe": {
        "exec": {"command": ["true"]}, "periodSeconds": 1}}]}}
    try:
        assert (await client.request("POST", PODS, pod))[0] == 201

        async def serving():
            try:
                before.update(samples((await scrape(f"http://127.0.0.1:{metrics_port}"))[1]))
                return True
            except aiohttp.ClientError:
                return False
        await wait_until(serving, timeout=10)
        assert (await client.request("POST", PODS, {**pod, "metadata": {"name": "second"}}))[0] == 201

        async def started():
            found = samples((await scrape(f"http://127.0.0.1:{metrics_port}"))[1])
            return grown(before, found, "kubelet_pod_start_duration_seconds_count") >= 1 and \
                grown(before, found, "prober_probe_total", probe_type="Readiness", result="successful") >= 1
        await wait_until(started, timeout=20)
        found = samples((await scrape(f"http://127.0.0.1:{metrics_port}"))[1])
        assert grown(before, found, "kubelet_runtime_operations_total", operation_type="start_pod") >= 1
        assert grown(before, found, "kubelet_runtime_operations_duration_seconds_count", operation_type="pod_status") >= 1
    finally:
        await agent.stop()
        await running.stop()
    # the endpoint goes with the agent
    await asyncio.sleep(0)
    try:
        await scrape(f"http://127.0.0.1:{metrics_port}")
        served_after_stop = True
    except aiohttp.ClientError:
        served_after_stop = False
    assert not served_after_stop
