"""Ingresses end to end on loopback: real etcd, API server, controllers and gateway, one agent
(hollow pods) running the real ingress proxy (Debian's HAProxy) bound to 127.0.0.1 on free
ports, and backends that are small HTTP servers on 127.0.0.1, named by Endpoints of
selector-less Services. Nothing listens beyond loopback.

What a user sees: hosts, paths and default backends route as the Ingress API says (checked
request by request against machinery/ingress.route, the reference the HAProxy configuration
must match); an unknown host gets 404; a Service without endpoints 503; TLS picks the Secret's
certificate by SNI (curl --resolve, verified against the test's CA); configuration changes
drop no request; the Ingress gets the node's address in its status; HAProxy killed comes back;
the agent stopping stops it.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import shutil
import signal
import subprocess
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from pyctl_proto import node_pb2 as pb

from agent.ingress.config import Settings
from agent.ingress.proxy import IngressProxy
from agent.node import Agent
from agent.nodeinfo import hollow_registration
from agent.runtime.hollow import VERSION, HollowRuntime
from agent.session import SessionConfig
from controlplane.controllers.manager import ControllerManager
from controlplane.gateway import GatewayConfig, start_gateway
from controlplane.machinery import ingress as semantics
from tests.cluster import free_port, wait_until
from tests.tlscerts import server_certificate

pytestmark = pytest.mark.skipif(not shutil.which("haproxy") or not shutil.which("curl"),
                                reason="needs haproxy and curl (deploy/install-deps.sh)")

FAST = GatewayConfig(heartbeat_period=0.2, lease_renew_interval=0.5, status_flush_interval=0.05)
NS = "/api/v1/namespaces/default"
ING = "/apis/networking.k8s.io/v1/namespaces/default/ingresses"
MERGE = {"Content-Type": "application/merge-patch+json"}


class Backends:
    """HTTP servers on 127.0.0.1 answering `<name> <path>`, one per name."""

    def __init__(self) -> None:
        self.runners: dict[str, web.AppRunner] = {}
        self.ports: dict[str, int] = {}

    async def start(self, name: str) -> int:
        async def answer(request: web.Request) -> web.Response:
            return web.Response(text=f"{name} {request.path}")
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", answer)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        port = free_port()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        self.runners[name], self.ports[name] = runner, port
        return port

    async def stop(self) -> None:
        for r in self.runners.values():
            await r.cleanup()


@pytest.fixture
async def stack(api, client, tmp_path):
    """(client, agent, settings, backends): the control plane, an ingress-proxy agent, backends."""
    manager = ControllerManager(api.url, leader_election=False, controllers=("ingress",))
    gateway = agent = None
    backends = Backends()
    settings = Settings(http_port=free_port(), https_port=free_port(), address="127.0.0.1")
    proxy = IngressProxy(tmp_path / "ingress", settings, min_interval=0.2, check_period=0.5)
    try:
        await manager.start()
        gateway = await start_gateway(api.url, "127.0.0.1:0", FAST)
        agent = Agent(gateway.address, hollow_registration("edge", VERSION, "127.0.0.1"),
                      HollowRuntime("edge", None), host_ip="127.0.0.1", ingress=proxy,
                      session_config=SessionConfig(backoff_base=0.05, backoff_max=0.5)).start()
        code, body = await client.request("POST", "/apis/networking.k8s.io/v1/ingressclasses",
                                          semantics.default_class_object())
        assert code == 201, body
        yield client, agent, settings, backends
    finally:
        if agent is not None:
            await agent.stop()
        if gateway is not None:
            await gateway.stop()
        await manager.stop()
        await backends.stop()
    assert proxy.pid() is None and not _haproxies(tmp_path), "the agent left HAProxy running"


def _haproxies(root: Path) -> list[str]:
    out = subprocess.run(["pgrep", "-af", str(root / "ingress")], capture_output=True, text=True).stdout
    return [line for line in out.splitlines() if "haproxy" in line]


async def service(client, name: str, port: int, port_name: str = "http", *targets: int) -> None:
    """A Service without selector and its Endpoints: `targets` are ports on 127.0.0.1."""
    code, body = await client.request("POST", f"{NS}/services", {
        "apiVersion": "v1", "kind": "Service", "metadata": {"name": name},
        "spec": {"ports": [{"name": port_name, "port": port, "targetPort": port}]}})
    assert code == 201, body
    if targets:
        code, body = await client.request("POST", f"{NS}/endpoints", {
            "apiVersion": "v1", "kind": "Endpoints", "metadata": {"name": name},
            "subsets": [{"addresses": [{"ip": "127.0.0.1", "nodeName": "edge"}],
                         "ports": [{"name": port_name, "port": t} for t in targets[:1]]}]})
        assert code == 201, body


def rule(host: str | None, *paths: tuple[str, str, str, int | str]) -> dict:
    r: dict = {"http": {"paths": [{"path": p, "pathType": t, "backend": {"service": {
        "name": svc, "port": {"number": port} if isinstance(port, int) else {"name": port}}}}
        for p, t, svc, port in paths]}}
    if host:
        r["host"] = host
    return r


async def fetch(settings: Settings, host: str, path: str) -> tuple[int, str]:
    async with aiohttp.ClientSession() as s:
        async with s.get(f"http://127.0.0.1:{settings.http_port}{path}", headers={"Host": host},
                         timeout=aiohttp.ClientTimeout(total=10)) as r:
            return r.status, await r.text()


async def test_hosts_paths_and_defaults_route_as_the_api_says(stack):
    client, agent, settings, backends = stack
    for name in ("a", "b", "api", "exact", "wild", "fallback"):
        await service(client, name, 80, "http", await backends.start(name))
    await service(client, "empty", 80, "http")  # no endpoints: 503
    spec = {"defaultBackend": {"service": {"name": "fallback", "port": {"number": 80}}},
            "rules": [rule("a.example", ("/", "Prefix", "a", 80), ("/api", "Prefix", "api", "http"),
                           ("/api/v2/x", "Exact", "exact", 80), ("/down", "Prefix", "empty", 80)),
                      rule("b.example", ("/", "Prefix", "b", 80)),
                      rule("*.wild.example", ("/", "ImplementationSpecific", "wild", 80))]}
    code, body = await client.request("POST", ING, {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
                                                    "metadata": {"name": "web"}, "spec": spec})
    assert code == 201, body
    code, strict = await client.request("POST", ING, {
        "apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": {"name": "only-b"},
        "spec": {"rules": [rule("only.example", ("/x", "Exact", "b", 80))]}})
    assert code == 201, strict
    # The status: this node runs the proxy.
    await wait_until(lambda: _status(client, "web"), timeout=30)
    assert await _status(client, "web") == [{"ip": "127.0.0.1"}]

    table = semantics.routing([body, strict])
    cases = [("a.example", "/"), ("a.example", "/apis"), ("a.example", "/api"), ("a.example", "/api/v1"),
             ("a.example:80", "/api/v2/x"), ("A.EXAMPLE", "/api/v2/x/y"), ("b.example", "/anything"),
             ("x.wild.example", "/q"), ("y.x.wild.example", "/q"), ("wild.example", "/"),
             ("unknown.example", "/z"), ("only.example", "/x"), ("only.example", "/x/y")]

    async def routed() -> bool:
        try:
            return (await fetch(settings, "a.example", "/api/v1"))[1] == "api /api/v1"
        except aiohttp.ClientError:
            return False
    await wait_until(routed, timeout=30, interval=0.2)
    for host, path in cases:
        want = semantics.route(table, host, path)
        code, text = await fetch(settings, host, path)
        if want is None:
            assert code == 404, (host, path, code, text)
        else:
            assert (code, text) == (200, f"{want.service} {path}"), (host, path, want)
    assert (await fetch(settings, "a.example", "/down"))[0] == 503  # a Service with no endpoints
    # Distinguishable answers from two hosts and a path prefix, and the unknown host's 404:
    assert (await fetch(settings, "a.example", "/"))[1] == "a /"
    assert (await fetch(settings, "b.example", "/"))[1] == "b /"
    assert (await fetch(settings, "a.example", "/api/x"))[1] == "api /api/x"
    assert (await fetch(settings, "only.example", "/nothing"))[0] == 404


async def _status(client, name: str) -> list:
    _, got = await client.request("GET", f"{ING}/{name}")
    return ((got.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []


def _tls_pair(tmp_path: Path, host: str) -> tuple[bytes, bytes, Path]:
    """A certificate + key for `host`, and the file of the CA that signed it."""
    cert, key, ca = server_certificate(host)
    ca_file = tmp_path / "ca.pem"
    ca_file.write_bytes(ca)
    return cert, key, ca_file


async def _curl(settings: Settings, host: str, ca: Path, *extra: str) -> tuple[int, str, str]:
    """curl --resolve HOST:PORT:127.0.0.1 https://HOST:PORT/ (exit code, body, stderr)."""
    proc = await asyncio.create_subprocess_exec(
        "curl", "-s", "--max-time", "10", "--cacert", str(ca), "--resolve", f"{host}:{settings.https_port}:127.0.0.1",
        f"https://{host}:{settings.https_port}/", *extra, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await proc.communicate()
    return proc.returncode or 0, out.decode(), err.decode()


async def test_tls_secret_is_served_by_sni_and_others_get_the_default_certificate(stack, tmp_path):
    client, agent, settings, backends = stack
    await service(client, "secure", 80, "http", await backends.start("secure"))
    cert, key, ca = _tls_pair(tmp_path, "secure.example")
    code, body = await client.request("POST", f"{NS}/secrets", {
        "apiVersion": "v1", "kind": "Secret", "metadata": {"name": "secure-tls"}, "type": "kubernetes.io/tls",
        "data": {"tls.crt": base64.b64encode(cert).decode(), "tls.key": base64.b64encode(key).decode()}})
    assert code == 201, body
    code, body = await client.request("POST", ING, {
        "apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": {"name": "secure"},
        "spec": {"tls": [{"hosts": ["secure.example"], "secretName": "secure-tls"}],
                 "rules": [rule("secure.example", ("/", "Prefix", "secure", 80)),
                           rule("plain.example", ("/", "Prefix", "secure", 80))]}})
    assert code == 201, body

    seen: list = []

    async def served() -> bool:
        seen.append(await _curl(settings, "secure.example", ca))
        return seen[-1][1] == "secure /"
    try:
        await wait_until(served, timeout=30, interval=0.3)
    except AssertionError:
        raise AssertionError(f"{seen[-3:]} {agent.ingress.problems}") from None
    # Verified against the CA, name checked: the certificate is the Secret's.
    # Another name gets the node's default certificate, which the CA did not sign.
    other = await _curl(settings, "plain.example", ca)
    assert other[0] == 60, other  # curl: the peer certificate cannot be authenticated
    code, body, err = await _curl(settings, "plain.example", ca, "-k", "-v")
    assert body == "secure /" and "pyctl ingress default certificate" in err, (code, body, err)


async def test_configuration_changes_drop_no_request(stack):
    client, agent, settings, backends = stack
    await service(client, "steady", 80, "http", await backends.start("steady"))
    await service(client, "other", 80, "http", await backends.start("other"))
    code, _ = await client.request("POST", ING, {
        "apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": {"name": "steady"},
        "spec": {"rules": [rule("steady.example", ("/", "Prefix", "steady", 80))]}})
    assert code == 201

    async def up() -> bool:
        try:
            return (await fetch(settings, "steady.example", "/"))[1] == "steady /"
        except aiohttp.ClientError:
            return False
    await wait_until(up, timeout=30, interval=0.2)
    reloads_before = agent.ingress.reloads
    results: list[str] = []
    stop = asyncio.Event()

    async def load() -> None:
        # Bounded: at most 2000 requests or 60 s; a new connection for each, so every one is
        # accepted by whichever HAProxy worker is current at that moment.
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 60
        connector = aiohttp.TCPConnector(force_close=True)
        async with aiohttp.ClientSession(connector=connector) as s:
            while not stop.is_set() and len(results) < 2000 and loop.time() < deadline:
                try:
                    async with s.get(f"http://127.0.0.1:{settings.http_port}/", headers={"Host": "steady.example"},
                                     timeout=aiohttp.ClientTimeout(total=10)) as r:
                        results.append(f"{r.status} {await r.text()}")
                except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
                    results.append(f"error {exc!r}")

    task = asyncio.create_task(load())
    for i in range(8):  # each change is a new configuration: HAProxy reloads
        path = "/extra" if i % 2 == 0 else "/extra2"
        code, _ = await client.request("PATCH", f"{ING}/steady", data=json.dumps({"spec": {"rules": [
            rule("steady.example", ("/", "Prefix", "steady", 80), (path, "Prefix", "other", 80))]}}), headers=MERGE)
        assert code == 200
        await wait_until(lambda: agent.ingress.reloads > reloads_before + i, timeout=20)
        await asyncio.sleep(0.3)
    stop.set()
    await task
    assert agent.ingress.reloads >= reloads_before + 8
    assert len(results) > 20, results
    failed = [r for r in results if r != "200 steady /"]
    assert not failed, f"{len(failed)} of {len(results)} requests failed: {failed[:5]}"


async def test_haproxy_killed_comes_back_and_a_class_not_ours_is_left_alone(stack):
    client, agent, settings, backends = stack
    await service(client, "app", 80, "http", await backends.start("app"))
    code, _ = await client.request("POST", ING, {
        "apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": {"name": "app"},
        "spec": {"rules": [rule("app.example", ("/", "Prefix", "app", 80))]}})
    assert code == 201
    code, _ = await client.request("POST", ING, {
        "apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": {"name": "theirs"},
        "spec": {"ingressClassName": "nginx", "rules": [rule("theirs.example", ("/", "Prefix", "app", 80))]}})
    assert code == 201

    async def answers(host: str) -> int:
        try:
            return (await fetch(settings, host, "/"))[0]
        except aiohttp.ClientError:
            return 0
    await wait_until(lambda: _is(answers("app.example"), 200), timeout=30, interval=0.2)
    assert await answers("theirs.example") == 404  # another controller's Ingress: not routed here
    assert await _status(client, "theirs") == []
    pid = agent.ingress.pid()
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    for worker in _haproxies(agent.ingress.layout.root.parent):
        os.kill(int(worker.split()[0]), signal.SIGKILL)
    await wait_until(lambda: agent.ingress.restarts >= 1 and agent.ingress.pid() not in (None, pid), timeout=30)
    await wait_until(lambda: _is(answers("app.example"), 200), timeout=30, interval=0.2)


async def _is(value, expected) -> bool:
    return (await value) == expected


async def test_a_new_agent_adopts_the_running_proxy_and_a_bad_configuration_is_refused(tmp_path):
    """An agent restarts (DESIGN §1): the HAProxy it left serving keeps serving and is adopted,
    not started twice; a table HAProxy would refuse never replaces the one in force."""
    backends = Backends()
    port = await backends.start("kept")
    settings = Settings(http_port=free_port(), https_port=free_port(), address="127.0.0.1")
    table = semantics.routing([{"metadata": {"name": "k", "namespace": "d"},
                                "spec": {"rules": [rule("kept.example", ("/", "Prefix", "kept", 80))]}}])
    from controlplane.gateway.ingresses import ingress_table
    svc = {"d/kept": {"spec": {"ports": [{"name": "http", "port": 80}]}}}
    eps = {"d/kept": {"subsets": [{"addresses": [{"ip": "127.0.0.1"}], "ports": [{"name": "http", "port": port}]}]}}
    first = IngressProxy(tmp_path / "ingress", settings)
    second = IngressProxy(tmp_path / "ingress", settings)
    try:
        first.update(ingress_table(table, svc.get, eps.get, {}.get))
        await first.sync()
        pid = first.pid()
        assert pid is not None
        await wait_until(lambda: _is(_fetch_text(settings, "kept.example"), "kept /"), timeout=20, interval=0.1)
        second.update(first.table)  # the restarted agent's first table
        await second.sync()
        assert (second.pid(), second.restarts, second.reloads) == (pid, 0, 1)
        bad = pb.IngressTable()
        bad.CopyFrom(first.table)
        bad.backends[0].endpoints[0].ip = "not-an-address"
        second.update(bad)
        await second.sync()
        assert second.pid() == pid and second.reloads == 1  # refused by haproxy -c: nothing reloaded
        assert await _fetch_text(settings, "kept.example") == "kept /"
    finally:
        await second.stop()
        await backends.stop()
    assert first.pid() is None and not _haproxies(tmp_path)


async def test_the_proxy_reads_as_running_all_through_its_reloads(tmp_path):
    """A reload re-executes HAProxy's master and rewrites its pidfile; in that moment (an empty
    pidfile, a command line not yet ours) the proxy must not read as stopped, or the agent's next
    pass would start a second HAProxy. Twenty reloads, `pid()` read without pause through each."""
    settings = Settings(http_port=free_port(), https_port=free_port(), address="127.0.0.1")
    table = semantics.routing([{"metadata": {"name": "k", "namespace": "d"},
                                "spec": {"rules": [rule("kept.example", ("/", "Prefix", "kept", 80))]}}])
    from controlplane.gateway.ingresses import ingress_table
    proxy = IngressProxy(tmp_path / "ingress", settings)
    try:
        proxy.update(ingress_table(table, {}.get, {}.get, {}.get))
        await proxy.sync()
        pid = proxy.pid()
        assert pid is not None
        reads, wrong = 0, []
        for _ in range(20):
            os.kill(pid, signal.SIGUSR2)
            end = asyncio.get_running_loop().time() + 0.1
            while asyncio.get_running_loop().time() < end:
                reads += 1
                if (seen := proxy.pid()) != pid:
                    wrong.append(seen)
        assert reads > 1000 and not wrong, (reads, wrong[:5])
    finally:
        await proxy.stop()
    assert proxy.pid() is None and not _haproxies(tmp_path)


async def _fetch_text(settings: Settings, host: str) -> str:
    try:
        return (await fetch(settings, host, "/"))[1]
    except aiohttp.ClientError:
        return ""
