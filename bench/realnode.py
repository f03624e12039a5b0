"""A real local cluster for the root benchmarks: the one `pyctl cluster up --nodes N` builds
(pyctl/localcluster: a bridge, one netns per node running a real `pyctl-agent` with runc +
conmon + CNI, etcd, a secure `pyctl-controlplane`, and a registry seeded with the demo image).

`async with real_cluster(workdir, nodes=3) as cluster:` brings one up under a fresh name
(`bench-XXXXX`) and takes it down on exit: workloads and pods through the API first (so each
agent tears its own sandboxes down), then `pyctl cluster down`, which removes whatever is
left by the names the cluster recorded. The client config goes to the workdir, never the
user's kubeconfig.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import AsyncIterator

import aiohttp

from pyctl.localcluster import launcher, leftovers, security, state
from pyctl.localcluster.state import Cluster

from .cluster import wait_for
from .scheduler import DEPLOY, deployment

PODS = "/api/v1/namespaces/default/pods"
REPLICASETS = "/apis/apps/v1/namespaces/default/replicasets"
IMAGE = f"{state.IMAGE_HOST}/pyctl/demo:1.0"
"""The demo image as manifests name it; every agent has the cluster's registry as its mirror."""


@dataclass
class RealCluster:
    cluster: Cluster
    url: str
    session: aiohttp.ClientSession
    image: str = IMAGE

    @property
    def mirrors(self) -> dict[str, str]:
        """Where the image host really is, for a client outside the nodes (the raw baseline)."""
        return {state.IMAGE_HOST: f"http://{self.cluster.registry}"}

    def agent_pids(self) -> list[int]:
        return [pid for n in self.cluster.nodes if (pid := launcher.pid_of(self.cluster, f"agent-{n.name}"))]

    def containers(self) -> int:
        """Containers left under the agents' runc roots (they outlive their API objects)."""
        return sum(len(leftovers.containers(n)) for n in self.cluster.nodes)

    async def delete_all(self, timeout: float = 120) -> None:
        """Deployments and ReplicaSets first (else they replace the pods), then every pod."""
        for collection in (DEPLOY, REPLICASETS, PODS):
            async with self.session.delete(self.url + collection, params={"gracePeriodSeconds": "0"}) as r:
                await r.read()

        async def gone() -> bool:
            async with self.session.get(self.url + PODS) as r:
                if not (await r.json())["items"]:
                    return True
            # A pod a ReplicaSet made before its own deletion reached it: delete again.
            async with self.session.delete(self.url + PODS, params={"gracePeriodSeconds": "0"}) as r:
                await r.read()
            return False
        await wait_for(gone, timeout, "every pod deleted", 0.2)

    async def check_warm(self, prefix: str) -> None:
        """Every node runs one of the pods named `prefix…`, so it has pulled the image: the
        timed steps after a warm-up start from a cached image on every node."""
        async with self.session.get(self.url + PODS) as r:
            pods = (await r.json())["items"]
        used = {p["spec"].get("nodeName") for p in pods if p["metadata"]["name"].startswith(prefix)}
        missing = sorted({n.name for n in self.cluster.nodes} - used)
        if missing:
            raise RuntimeError(f"the warm-up placed no pod on {', '.join(missing)}: its first timed pod would pull")

    async def create_deployment(self, name: str, replicas: int) -> None:
        """A Deployment of the demo image: no resource requests, a 0 s grace period."""
        dep = deployment(name, replicas)
        dep["spec"]["template"]["spec"]["containers"][0].update(image=self.image, resources={})
        dep["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] = 0
        async with self.session.post(self.url + DEPLOY, json=dep) as r:
            if r.status != 201:
                raise RuntimeError(f"create deployment {name}: {r.status} {await r.text()}")

    async def scale(self, name: str, replicas: int) -> None:
        async with self.session.patch(f"{self.url}{DEPLOY}/{name}/scale", json={"spec": {"replicas": replicas}},
                                      headers={"Content-Type": "application/merge-patch+json"}) as r:
            if r.status != 200:
                raise RuntimeError(f"scale {name} to {replicas}: {r.status} {await r.text()}")


def admin_ssl(c: Cluster) -> ssl.SSLContext:
    """Verifies the API server and presents the admin certificate `up` made."""
    p = security.pki(c)
    ctx = ssl.create_default_context(cafile=str(p.ca_cert))
    ctx.load_cert_chain(str(p.admin_cert), str(p.admin_key))
    return ctx


@contextlib.asynccontextmanager
async def real_cluster(workdir: str, nodes: int = 3) -> AsyncIterator[RealCluster]:
    name = f"bench-{uuid.uuid4().hex[:5]}"
    kubeconfig = str(Path(workdir) / f"{name}.kubeconfig")
    log = open(Path(workdir) / f"{name}-up.log", "a")
    try:
        try:
            c = await asyncio.to_thread(launcher.up, name, nodes, [], log, kubeconfig=kubeconfig)
            session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=admin_ssl(c)))
            try:
                rc = RealCluster(c, c.api_url, session)
                try:
                    yield rc
                finally:
                    try:
                        await rc.delete_all()
                    except Exception as e:  # `down` below removes what is left anyway
                        print(f"bench: deleting the benchmark's pods: {e}", file=sys.stderr)
            finally:
                await session.close()
        finally:
            await asyncio.to_thread(launcher.down, name, log, kubeconfig=kubeconfig)
    finally:
        log.close()
