"""HA with real processes: SIGKILL the leading control plane in the middle of a scale-up and
of a rolling update; the standby finishes both, never exceeding the strategy's surge, and
the end state has exactly the desired replicas, none lost or duplicated.

Layout: process A serves the API and the node gateway (never killed, agents dial it);
processes B and C each run an API server plus scheduler and controllers under leader
election. Three hollow agents run in this test process.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import aiohttp
import pytest

from agent.hollow import run_hollow_agents, stop_agents

from ..cluster import Client, Etcd, free_port, wait_until

REPO = Path(__file__).resolve().parents[2]
DEPLOY = "/apis/apps/v1/namespaces/default/deployments"
LEASE = "/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/pyctl-controller-manager"


class ControlPlane:
    def __init__(self, etcd: Etcd, components: str, name: str) -> None:
        self.port, self.gateway_port, self.name = free_port(), free_port(), name
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "controlplane", "--etcd-servers", etcd.url,
             "--listen", f"127.0.0.1:{self.port}", "--gateway-listen", f"127.0.0.1:{self.gateway_port}",
             "--components", components, "--leader-elect-lease-duration", "3"],
            cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            env={**os.environ, "PYTHONPATH": str(REPO)})

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def ready(self) -> None:
        async def up():
            try:
                async with aiohttp.ClientSession() as s, s.get(self.url + "/readyz") as r:
                    return r.status == 200
            except aiohttp.ClientError:
                return False
        await wait_until(up, timeout=30, interval=0.2)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()


def deployment(replicas: int, image: str) -> dict:
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "web"}},
                     "strategy": {"type": "RollingUpdate",
                                  "rollingUpdate": {"maxSurge": 2, "maxUnavailable": 0}},
                     "template": {"metadata": {"labels": {"app": "web"}},
                                  "spec": {"containers": [{"name": "c", "image": image}]}}}}


class PodCounter:
    """Counts live (not terminating) pods of the app from a watch, remembering the maximum."""

    def __init__(self, base: str) -> None:
        self.base, self.live, self.peak = base, {}, 0
        self.task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        url = self.base + "/api/v1/namespaces/default/pods?watch=1&labelSelector=app%3Dweb"
        async with aiohttp.ClientSession() as s, s.get(url, timeout=aiohttp.ClientTimeout(total=None)) as r:
            async for line in r.content:
                ev = json.loads(line)
                pod = ev["object"]
                uid = pod["metadata"]["uid"]
                if ev["type"] == "DELETED" or pod["metadata"].get("deletionTimestamp"):
                    self.live.pop(uid, None)
                else:
                    self.live[uid] = pod
                self.peak = max(self.peak, len(self.live))

    def stop(self) -> None:
        self.task.cancel()


async def leader_process(client: Client, planes: list[ControlPlane]) -> ControlPlane:
    async def holder():
        status, lease = await client.request("GET", LEASE)
        ident = (lease or {}).get("spec", {}).get("holderIdentity", "") if status == 200 else ""
        return next((p for p in planes if f"_{p.proc.pid}_" in ident), None)
    return await wait_until(holder, timeout=30, interval=0.2)


async def settled(client: Client, replicas: int, image: str) -> bool:
    _, dep = await client.request("GET", f"{DEPLOY}/web")
    st = dep.get("status", {})
    if dep["metadata"]["generation"] != st.get("observedGeneration"):
        return False
    if (st.get("updatedReplicas"), st.get("replicas"), st.get("availableReplicas")) != (replicas,) * 3:
        return False
    _, pods = await client.request("GET", "/api/v1/namespaces/default/pods?labelSelector=app%3Dweb")
    live = [p for p in pods["items"] if not p["metadata"].get("deletionTimestamp")]
    return len(live) == replicas and all(p["spec"]["containers"][0]["image"] == image for p in live)


@pytest.mark.timeout(240)
async def test_sigkill_of_leader_mid_scale_up_and_mid_rollout(etcd):
    a = ControlPlane(etcd, "apiserver,gateway", "a")
    b = ControlPlane(etcd, "apiserver,scheduler,controllers", "b")
    c = ControlPlane(etcd, "apiserver,scheduler,controllers", "c")
    planes = [b, c]
    agents, counter = [], None
    client = Client(a.url)
    try:
        for p in (a, b, c):
            await p.ready()
        agents = await run_hollow_agents(f"127.0.0.1:{a.gateway_port}", ["n1", "n2", "n3"])
        counter = PodCounter(a.url)
        assert (await client.request("POST", DEPLOY, deployment(2, "img:1")))[0] == 201
        await wait_until(lambda: settled(client, 2, "img:1"), timeout=60)

        # Scale up, and kill the leader while it works.
        leader = await leader_process(client, planes)
        patch = {"spec": {"replicas": 12}}
        await client.request("PATCH", f"{DEPLOY}/web", data=json.dumps(patch),
                             headers={"Content-Type": "application/merge-patch+json"})
        await wait_until(lambda: len(counter.live) >= 4, timeout=30)
        leader.kill()
        await wait_until(lambda: settled(client, 12, "img:1"), timeout=90)
        assert counter.peak == 12  # no duplicate creates across the takeover

        # A new leader restarts the killed one as a fresh standby, then a rollout and a kill.
        survivor = next(p for p in planes if p is not leader)
        replacement = ControlPlane(etcd, "apiserver,scheduler,controllers", "d")
        planes = [survivor, replacement]
        await replacement.ready()
        counter.peak = len(counter.live)
        leader = await leader_process(client, planes)
        patch = {"spec": {"template": {"spec": {"containers": [{"name": "c", "image": "img:2"}]}}}}
        await client.request("PATCH", f"{DEPLOY}/web", data=json.dumps(patch),
                             headers={"Content-Type": "application/strategic-merge-patch+json"})

        async def rollout_underway():
            _, pods = await client.request("GET", "/api/v1/namespaces/default/pods?labelSelector=app%3Dweb")
            return any(p["spec"]["containers"][0]["image"] == "img:2" for p in pods["items"])
        await wait_until(rollout_underway, timeout=30)
        leader.kill()
        await wait_until(lambda: settled(client, 12, "img:2"), timeout=120)
        assert counter.peak <= 12 + 2, f"surge exceeded: {counter.peak} live pods at once"
        planes.append(leader)
    finally:
        if counter:
            counter.stop()
        await stop_agents(agents)
        await client.close()
        for p in [a, b, c, *[p for p in planes if p not in (b, c)]]:
            p.kill()
