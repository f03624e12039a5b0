"""Hollow agents against the real gateway and API server: restart policy, reconnects,
gateway restarts, many agents in one process, and the pyctl-agent command itself."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys

from agent.hollow import run_hollow_agents, stop_agents
from agent.pods import PodTimings
from agent.session import SessionConfig
from controlplane.gateway import GatewayConfig, start_gateway
from controlplane.controllers.node_lifecycle import NodeLifecycleConfig, run_node_lifecycle

from ..cluster import free_port, wait_until
from .test_gateway import FAST, PODS, _running_ready, node_ready, pod

AGENT_OPTS = dict(pod_timings=PodTimings(resync_period=0.3, backoff_base=0.2, backoff_max=1.0),
                  session_config=SessionConfig(backoff_base=0.05, backoff_max=0.5))


async def get_pod(client, name: str) -> dict:
    status, body = await client.request("GET", f"{PODS}/{name}")
    assert status == 200, body
    return body


async def test_restart_policy_always_restarts_and_never_ends_the_pod(client, api):
    gw = await start_gateway(api.url, "127.0.0.1:0", FAST)
    agents = await run_hollow_agents(gw.address, ["node-a"], **AGENT_OPTS)
    try:
        await wait_until(lambda: node_ready(client, "node-a"), timeout=15)
        crashing = pod("crashing", "node-a", **{"pyctl.io/hollow-run-seconds": "0.2",
                                                "pyctl.io/hollow-exit-code": "1"})
        done = pod("done", "node-a", **{"pyctl.io/hollow-run-seconds": "0.2"})
        done["spec"]["restartPolicy"] = "Never"
        failed = pod("failed", "node-a", **{"pyctl.io/hollow-run-seconds": "0.2",
                                            "pyctl.io/hollow-exit-code": "3"})
        failed["spec"]["restartPolicy"] = "Never"
        for p in (crashing, done, failed):
            assert (await client.request("POST", PODS, p))[0] == 201

        async def restarted_twice():
            cs = (await get_pod(client, "crashing"))["status"].get("containerStatuses") or [{}]
            return cs[0].get("restartCount", 0) >= 2 and cs[0].get("lastState", {}).get("terminated")
        await wait_until(restarted_twice, timeout=15)
        assert (await get_pod(client, "crashing"))["status"]["phase"] == "Running"

        # CrashLoopBackOff: each restart waits twice as long as the one before, up to the cap.
        worker = next(w for w in agents[0].pods.workers.values() if w.ref.name == "crashing")
        delays: list[float] = []

        def record() -> bool:
            d = worker.backoff.get("c")
            if d is not None and (not delays or d != delays[-1]):
                delays.append(d)
            return bool(delays) and delays[-1] >= 1.0
        await wait_until(record, timeout=20, interval=0.01)
        assert delays == sorted(delays) and delays[-1] == 1.0  # AGENT_OPTS: base 0.2 s, max 1 s
        assert all(b == min(1.0, 2 * a) for a, b in zip(delays, delays[1:]))

        async def phase(name, want):
            return (await get_pod(client, name))["status"]["phase"] == want
        await wait_until(lambda: phase("done", "Succeeded"), timeout=10)
        await wait_until(lambda: phase("failed", "Failed"), timeout=10)
        term = (await get_pod(client, "failed"))["status"]["containerStatuses"][0]["state"]["terminated"]
        assert term["exitCode"] == 3 and term["reason"] == "Error"
        await asyncio.sleep(1)
        assert (await get_pod(client, "done"))["status"]["containerStatuses"][0]["restartCount"] == 0
    finally:
        await stop_agents(agents)
        await gw.stop()


async def test_gateway_restart_agents_reconnect_and_resync_without_losing_or_duplicating(client, api):
    port = free_port()
    gw = await start_gateway(api.url, f"127.0.0.1:{port}", FAST)
    agents = await run_hollow_agents(f"127.0.0.1:{port}", ["node-a", "node-b"], **AGENT_OPTS)
    try:
        for n in ("node-a", "node-b"):
            await wait_until(lambda n=n: node_ready(client, n), timeout=15)
        for i in range(4):
            await client.request("POST", PODS, pod(f"p{i}", "node-a" if i % 2 else "node-b"))
        for i in range(4):
            await wait_until(lambda i=i: _running_ready(client, f"p{i}"), timeout=10)
        before = {a.node_name: {p.uid: p.pod_ip for p in await a.runtime.list_pods()} for a in agents}
        sessions = [a.session.sessions for a in agents]

        await gw.stop()
        # While the gateway is down: one pod is deleted for good (it cannot be confirmed by
        # the agent, so it is forced), and a new one is bound. The agents must catch up.
        await client.request("DELETE", f"{PODS}/p0", {"gracePeriodSeconds": 0})
        await client.request("POST", PODS, pod("p4", "node-b"))
        gw = await start_gateway(api.url, f"127.0.0.1:{port}", FAST)

        await wait_until(lambda: all(a.session.sessions > s for a, s in zip(agents, sessions)), timeout=15)
        await wait_until(lambda: _running_ready(client, "p4"), timeout=10)

        async def converged():
            pods = {a.node_name: {p.name for p in await a.runtime.list_pods()} for a in agents}
            return pods == {"node-a": {"p1", "p3"}, "node-b": {"p2", "p4"}}
        await wait_until(converged, timeout=10)
        after = {a.node_name: {p.uid: p.pod_ip for p in await a.runtime.list_pods()} for a in agents}
        for node, pods in after.items():  # the survivors were neither restarted nor duplicated
            for uid, ip in pods.items():
                if uid in before[node]:
                    assert before[node][uid] == ip
        assert sum(len(p) for p in after.values()) == 4
    finally:
        await stop_agents(agents)
        await gw.stop()


async def test_a_hundred_hollow_agents_in_one_process(client, api):
    cfg = GatewayConfig(heartbeat_period=1.0, lease_renew_interval=2.0)
    gw = await start_gateway(api.url, "127.0.0.1:0", cfg)
    names = [f"hollow-{i:03d}" for i in range(100)]
    agents = await run_hollow_agents(gw.address, names,
                                     session_config=SessionConfig(backoff_base=0.2, backoff_max=2.0))
    try:
        async def all_ready():
            _, nodes = await client.request("GET", "/api/v1/nodes")
            ready = [n for n in nodes["items"]
                     if any(c["type"] == "Ready" and c["status"] == "True" for c in n.get("status", {}).get("conditions", []))]
            return len(ready) == 100
        await wait_until(all_ready, timeout=120, interval=0.5)
        await wait_until(lambda: all(a.session.connected.is_set() for a in agents), timeout=30)

        async def leases_renewed():
            _, leases = await client.request("GET", "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases")
            return len(leases["items"]) == 100
        await wait_until(leases_renewed, timeout=30)
        first = {a.node_name: a.session.sessions for a in agents}
        await asyncio.sleep(4)  # several heartbeat periods: nobody timed out and reconnected
        assert {a.node_name: a.session.sessions for a in agents} == first
        assert len(gw.gateway.sessions) == 100
    finally:
        await stop_agents(agents)
        await gw.stop()


async def test_the_agent_command_registers_a_node_and_its_death_makes_it_not_ready(client, api):
    port = free_port()
    gw = await start_gateway(api.url, f"127.0.0.1:{port}", FAST)
    controller = await run_node_lifecycle(api.url, NodeLifecycleConfig(grace_period=2, eviction_timeout=30,
                                                                      monitor_period=0.3))
    env = dict(os.environ, PYTHONPATH=os.getcwd())
    proc = subprocess.Popen([sys.executable, "-m", "agent", "--server", f"127.0.0.1:{port}",
                             "--node-name", "proc-node", "--runtime", "hollow", "--node-ip", "127.0.0.1"],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        await wait_until(lambda: node_ready(client, "proc-node"), timeout=20)
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        stderr = proc.stderr.read().decode()
        assert "HOLLOW runtime" in stderr

        async def not_ready():
            _, node = await client.request("GET", "/api/v1/nodes/proc-node")
            return any(c["type"] == "Ready" and c["status"] == "Unknown" for c in node.get("status", {}).get("conditions", []))
        await wait_until(not_ready, timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        await controller.stop()
        await gw.stop()


def test_agent_help_lists_its_runtimes():
    env = dict(os.environ, PYTHONPATH=os.getcwd())
    out = subprocess.run([sys.executable, "-m", "agent", "--help"], env=env, capture_output=True, text=True)
    assert out.returncode == 0 and "--node-name" in out.stdout and "examples:" in out.stdout
    assert "{runc,hollow}" in out.stdout and "--pod-cidr" in out.stdout


async def test_status_that_changed_while_the_gateway_was_down_is_sent_after_reconnect(client, api):
    port = free_port()
    gw = await start_gateway(api.url, f"127.0.0.1:{port}", FAST)
    agents = await run_hollow_agents(f"127.0.0.1:{port}", ["node-a"], **AGENT_OPTS)
    try:
        await wait_until(lambda: node_ready(client, "node-a"), timeout=15)
        job = pod("job", "node-a", **{"pyctl.io/hollow-run-seconds": "1.5"})
        job["spec"]["restartPolicy"] = "Never"
        await client.request("POST", PODS, job)
        await wait_until(lambda: _running_ready(client, "job"), timeout=10)
        await gw.stop()
        await asyncio.sleep(2.5)  # the pod finishes while the agent cannot report it
        assert (await get_pod(client, "job"))["status"]["phase"] == "Running"
        gw = await start_gateway(api.url, f"127.0.0.1:{port}", FAST)

        async def succeeded():
            return (await get_pod(client, "job"))["status"]["phase"] == "Succeeded"
        await wait_until(succeeded, timeout=15)
    finally:
        await stop_agents(agents)
        await gw.stop()
