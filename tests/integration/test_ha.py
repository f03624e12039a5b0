"""HA: several controller managers against one API server; exactly one leads (the Lease says
which), and when the leader goes (stopped, or SIGKILLed as a separate process) a standby
takes over within the lease duration and the work goes on."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from controlplane.components import ComponentsConfig, run_components
from controlplane.controllers.manager import LEASE_NAME, ControllerManager, ManagerConfig

from ..cluster import wait_until

REPO = Path(__file__).resolve().parents[2]
LEASE = f"/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/{LEASE_NAME}"
NS = "/api/v1/namespaces/default"
# Short terms so a takeover is quick; the lease is whole seconds on the wire.
FAST = dict(lease_duration=2.0, renew_deadline=1.5, retry_period=0.2,
            controllers=("endpoints", "garbagecollector", "namespace"))


async def holder(client) -> str:
    status, lease = await client.request("GET", LEASE)
    return lease.get("spec", {}).get("holderIdentity", "") if status == 200 else ""


async def service_gets_endpoints(client, name: str, timeout: float = 15) -> None:
    body = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name},
            "spec": {"selector": {"app": name}, "ports": [{"port": 80}]}}
    assert (await client.request("POST", f"{NS}/services", body))[0] == 201

    async def has_endpoints():
        return (await client.request("GET", f"{NS}/endpoints/{name}"))[0] == 200
    await wait_until(has_endpoints, timeout=timeout)


async def test_one_manager_leads_and_a_standby_takes_over_when_it_stops(api, client):
    managers = {name: ControllerManager(api.url, identity=name, **FAST) for name in ("a", "b")}
    try:
        for m in managers.values():
            await m.start()
        leader = await wait_until(lambda: holder(client), timeout=10)
        assert leader in managers
        standby = next(n for n in managers if n != leader)
        await wait_until(lambda: managers[leader].running, timeout=10)
        await service_gets_endpoints(client, "before")
        # Exactly one runs controllers, and keeps the lease term after term.
        for _ in range(5):
            assert await holder(client) == leader
            assert managers[leader].is_leader and not managers[standby].is_leader
            assert not managers[standby].running
            await asyncio.sleep(0.3)

        await managers.pop(leader).stop()  # a clean stop hands the lease back
        assert await wait_until(lambda: _is(client, standby), timeout=10)
        await wait_until(lambda: managers[standby].running, timeout=10)
        await service_gets_endpoints(client, "after")

        # Losing the lease (here: someone else takes it) stops every controller at once.
        await wait_until(lambda: _steal(client), timeout=10)
        await wait_until(lambda: not managers[standby].running and not managers[standby].is_leader, timeout=10)
        assert await holder(client) == "intruder"
    finally:
        for m in managers.values():
            await m.stop()


async def _steal(client) -> bool:
    _, lease = await client.request("GET", LEASE)
    lease["spec"].update(holderIdentity="intruder", leaseDurationSeconds=3600)
    return (await client.request("PUT", LEASE, lease))[0] == 200


async def test_standby_takes_over_from_a_sigkilled_control_plane_process(api, client):
    procs = {name: _launch(api.url, name) for name in ("p1", "p2")}
    try:
        leader = await wait_until(lambda: holder(client), timeout=20)
        assert leader in procs
        await service_gets_endpoints(client, "first", timeout=20)

        procs[leader].send_signal(signal.SIGKILL)  # no clean-up at all: the lease just stops renewing
        procs[leader].wait(10)
        standby = next(n for n in procs if n != leader)
        assert await wait_until(lambda: _is(client, standby), timeout=20)
        await service_gets_endpoints(client, "second", timeout=20)
        assert procs[standby].poll() is None
    finally:
        for p in procs.values():
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(10)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()


async def test_components_run_and_stop_without_leader_election(api, client):
    running = await run_components(api.url, {"apiserver", "controllers"},
                                   ComponentsConfig(ManagerConfig(leader_election=False)))
    try:
        names = set(running.controllers.running)
        assert {"endpoints", "garbagecollector", "namespace", "nodelifecycle"} <= names
        await service_gets_endpoints(client, "solo")
        assert await holder(client) == ""  # no election: no lease
    finally:
        await running.stop()
    with pytest.raises(ValueError):
        await run_components(api.url, {"nonsense"})


async def _is(client, name: str) -> bool:
    return await holder(client) == name


LAUNCHER = """
import asyncio, signal, sys
from controlplane.components import ComponentsConfig, run_components
from controlplane.controllers.manager import ManagerConfig

async def main() -> None:
    config = ComponentsConfig(ManagerConfig(identity=sys.argv[2], lease_duration=2.0, renew_deadline=1.5,
                                            retry_period=0.2,
                                            controllers=("endpoints", "garbagecollector", "namespace")))
    running = await run_components(sys.argv[1], {"controllers"}, config)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    try:
        await stop.wait()
    finally:
        await running.stop()

asyncio.run(main())
"""


def _launch(api_url: str, identity: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    return subprocess.Popen([sys.executable, "-c", LAUNCHER, api_url, identity], cwd=REPO, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
