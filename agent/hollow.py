"""Many hollow agents in one process, for tests and scale benchmarks.

    agents = await run_hollow_agents("127.0.0.1:7443", [f"hollow-{i}" for i in range(100)])
    ...
    await stop_agents(agents)

Each is a full Agent (session, pod workers) over its own HollowRuntime; they share only
the event loop, so 100 of them cost little more than their heartbeats.
"""

from __future__ import annotations

import asyncio
import ipaddress

from .credentials import NodeCredentials
from .node import Agent
from .nodeinfo import hollow_registration
from .pods import PodTimings
from .runtime.hollow import BENCH_RANGE, VERSION, HollowRuntime
from .session import SessionConfig
from .volumes.hollow import HOLLOW_CAPACITY, HollowVolumes


def hollow_agent(server: str, name: str, index: int | None = None, *, host_ip: str = "127.0.0.1",
                 pod_timings: PodTimings | None = None,
                 session_config: SessionConfig | None = None, listen: str | None = "127.0.0.1:0",
                 credentials: NodeCredentials | None = None, volume_capacity: int | None = HOLLOW_CAPACITY,
                 metrics_listen: str = "") -> Agent:
    """One hollow agent; `index` picks its pod /24 inside the benchmark range (else its name does).
    `listen`: where it serves its (synthetic) logs; by default a free loopback port.
    `credentials`: a joined node's certificate (secured gateway); None: insecure.
    `volume_capacity`: the room of its simulated local volumes (None: it keeps none)."""
    cidr = None
    if index is not None:
        cidr = str(ipaddress.ip_network(f"{BENCH_RANGE.network_address + (index % 512) * 256}/24"))
    runtime = HollowRuntime(name, cidr)
    agent = Agent(server, hollow_registration(name, VERSION, host_ip), runtime, host_ip=host_ip,
                  pod_timings=pod_timings, session_config=session_config, listen=listen,
                  credentials=credentials, metrics_listen=metrics_listen,
                  local_volumes=HollowVolumes(volume_capacity) if volume_capacity is not None else None)
    agent.pods.claims.node_paths = False  # its volumes' paths are not on this machine
    return agent


async def run_hollow_agents(server: str, names: list[str], *, pod_timings: PodTimings | None = None,
                            session_config: SessionConfig | None = None) -> list[Agent]:
    """Start one hollow agent per name (not waiting for them to register)."""
    return [hollow_agent(server, n, i, pod_timings=pod_timings, session_config=session_config).start()
            for i, n in enumerate(names)]


async def stop_agents(agents: list[Agent]) -> None:
    await asyncio.gather(*(a.stop() for a in agents))
