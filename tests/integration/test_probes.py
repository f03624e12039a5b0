"""Probes: the prober state machine (unit level: a fake check and a fake clock, no sleeping),
then hollow agents against the real gateway and API server: a failing readiness probe keeps
a pod not Ready and a failing liveness probe restarts its container."""

from __future__ import annotations

import asyncio

from agent.hollow import run_hollow_agents, stop_agents
from agent.probes import Prober, ProbeSpec, http_get, tcp_socket
from controlplane.gateway import start_gateway

from ..cluster import wait_until
from .test_agent import AGENT_OPTS, get_pod
from .test_gateway import FAST, PODS, _running_ready, node_ready, pod


class FakeTime:
    """A clock that moves only when the prober sleeps."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def prober(kind: str, results: list[bool], **spec: float) -> tuple[Prober, list[bool | None], FakeTime]:
    t = FakeTime()
    answers = iter(results)
    reported: list[bool | None] = []

    async def check() -> bool:
        return next(answers)
    p = Prober(kind, ProbeSpec(**spec), check, lambda p: reported.append(p.result),  # type: ignore[arg-type]
               sleep=t.sleep, clock=t.clock, jitter=lambda: 0.5)
    return p, reported, t


async def ticks(p: Prober, t: FakeTime, n: int) -> None:
    for _ in range(n):
        await p.tick()
        await t.sleep(p.spec.period)


async def test_readiness_needs_success_threshold_and_reports_only_changes():
    p, reported, t = prober("readiness", [True, True, True, False, False, True, True], success_threshold=2,
                            failure_threshold=2, period=1)
    assert p.result is False  # not ready until proven ready
    await ticks(p, t, 7)
    # ready after 2 successes; the 3rd success changes nothing; 2 failures flip it; 2 successes back
    assert reported == [True, False, True]


async def test_liveness_starts_alive_and_fails_after_failure_threshold_then_stops():
    p, reported, t = prober("liveness", [False, True, False, False, False], failure_threshold=3, period=1)
    assert p.result is True
    results = [await p.tick() for _ in range(4)]
    assert reported == [] and results == [True] * 4  # a success in between resets the count
    assert await p.tick() is False  # third failure in a row: reported, no more probing this run
    assert reported == [False]


async def test_initial_delay_and_jittered_first_run():
    calls = []
    t = FakeTime()

    async def check() -> bool:
        calls.append(t.now)
        return True
    p = Prober("readiness", ProbeSpec(initial_delay=5, period=2), check, lambda p: None,
               sleep=t.sleep, clock=t.clock, jitter=lambda: 0.25)
    task = asyncio.create_task(p.run())
    await wait_until(lambda: len(calls) >= 2, timeout=5, interval=0)
    task.cancel()
    assert t.sleeps[0] == 0.5  # jitter x period before the first tick
    assert calls[0] >= 5 and calls[1] - calls[0] == 2  # nothing before the initial delay


async def test_timeouts_and_errors_count_as_failures():
    async def hang() -> bool:
        await asyncio.sleep(10)
        return True

    async def boom() -> bool:
        raise OSError("connection refused")
    for check in (hang, boom):
        reported: list[bool | None] = []
        p = Prober("liveness", ProbeSpec(timeout=0.01, failure_threshold=1), check,
                   lambda p: reported.append(p.result))
        await p.tick()
        assert reported == [False]


async def test_startup_success_ends_its_probing_and_the_gate_holds_others():
    p, reported, t = prober("startup", [False, True], failure_threshold=5)
    assert p.result is None
    assert await p.tick() is True and await p.tick() is False
    assert reported == [True]
    held = Prober("liveness", ProbeSpec(failure_threshold=1), lambda: asyncio.sleep(0, False),  # type: ignore[arg-type]
                  lambda p: None, gate=lambda: False)
    await held.tick()
    assert held.result is True  # never checked while the gate is closed


def probed(name: str, node: str, probe_kind: str, fail: str = "") -> dict:
    p = pod(name, node, **({"pyctl.io/hollow-probe-fail": fail} if fail else {}))
    p["spec"]["containers"][0][f"{probe_kind}Probe"] = {
        "exec": {"command": ["cat", "/tmp/healthy"]}, "periodSeconds": 1, "failureThreshold": 1}
    return p


async def test_hollow_readiness_failure_keeps_pod_not_ready_and_liveness_failure_restarts(client, api):
    gw = await start_gateway(api.url, "127.0.0.1:0", FAST)
    agents = await run_hollow_agents(gw.address, ["node-a"], **AGENT_OPTS)
    # A startup probe that keeps failing (but far from its threshold): running, not started.
    starting = probed("starting", "node-a", "startup", fail="startup")
    starting["spec"]["containers"][0]["startupProbe"]["failureThreshold"] = 1000
    try:
        await wait_until(lambda: node_ready(client, "node-a"), timeout=15)
        for p in (probed("ready-ok", "node-a", "readiness"),
                  probed("never-ready", "node-a", "readiness", fail="readiness"),
                  probed("dies", "node-a", "liveness", fail="liveness"),
                  probed("lives", "node-a", "liveness"), pod("plain", "node-a"), starting):
            assert (await client.request("POST", PODS, p))[0] == 201
        await wait_until(lambda: _running_ready(client, "ready-ok"), timeout=15)
        ok = (await get_pod(client, "ready-ok"))["status"]["containerStatuses"][0]
        assert ok["started"] is True and ok["ready"] is True

        async def restarted_by_liveness():
            cs = (await get_pod(client, "dies"))["status"].get("containerStatuses") or [{}]
            term = cs[0].get("lastState", {}).get("terminated") or {}
            return cs[0].get("restartCount", 0) >= 1 and term.get("exitCode") == 137 and term.get("reason") == "Error"
        await wait_until(restarted_by_liveness, timeout=15)

        st = (await get_pod(client, "never-ready"))["status"]
        conds = {c["type"]: c["status"] for c in st["conditions"]}
        assert st["phase"] == "Running" and conds["Ready"] == "False" and conds["ContainersReady"] == "False"
        assert st["containerStatuses"][0]["ready"] is False and st["containerStatuses"][0]["restartCount"] == 0
        cs = (await get_pod(client, "starting"))["status"]["containerStatuses"][0]
        assert "running" in cs["state"] and cs["started"] is False and cs["ready"] is False
        lives = (await get_pod(client, "lives"))["status"]
        assert lives["containerStatuses"][0]["restartCount"] == 0 and await _running_ready(client, "lives")
        # Pods without probes run no probers (cheap hollow nodes).
        probing = {w.ref.name for w in agents[0].pods.workers.values() if w.probes.runs}
        assert {"ready-ok", "never-ready", "lives"} <= probing and "plain" not in probing
    finally:
        await stop_agents(agents)
        await gw.stop()


async def test_http_and_tcp_handlers_against_a_local_server():
    seen: list[bytes] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        seen.append(head)
        path = head.split()[1].decode()
        code = {"/ok": 200, "/moved": 301, "/broken": 500}.get(path, 404)
        writer.write(f"HTTP/1.1 {code} X\r\nContent-Length: 0\r\n\r\n".encode())
        await writer.drain()
        writer.close()
    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    named = {"name": "c", "ports": [{"name": "web", "containerPort": port}]}
    try:
        assert await http_get("127.0.0.1", {"path": "/ok", "port": "web",
                                            "httpHeaders": [{"name": "X-Probe", "value": "yes"}]}, named)
        assert b"X-Probe: yes" in seen[-1] and seen[-1].startswith(b"GET /ok HTTP/1.1")
        assert await http_get("127.0.0.1", {"path": "/moved", "port": port}, named)
        assert not await http_get("127.0.0.1", {"path": "/broken", "port": port}, named)
        assert not await http_get("127.0.0.1", {"path": "/missing", "port": port}, named)
        assert await tcp_socket("127.0.0.1", {"port": port}, named)
    finally:
        server.close()
        await server.wait_closed()
    try:  # nobody listens any more: an error, which the prober counts as a failure
        await tcp_socket("127.0.0.1", {"port": port}, named)
        raise AssertionError("connected to a closed port")
    except OSError:
        pass
