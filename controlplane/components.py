"""Starting and stopping the control plane's components other than the API server.

`run_components(api_url, {"scheduler", "controllers", "gateway"}, config)` starts what is
asked and returns a `Running` whose `stop()` ends it all cleanly (leases handed back). The
scheduler campaigns for the Lease `kube-system/pyctl-scheduler`, the controllers for
`kube-system/pyctl-controller-manager`, independently, so one process may lead one and
stand by for the other. The gateway is not elected: agents may dial any control plane.
Every component reaches state through the API at `api_url` only.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import uuid
from dataclasses import dataclass, field, replace
from typing import Any

from .client import ApiClient
from .controllers.manager import ControllerManager, Elected, ManagerConfig
from .leader import ElectionConfig

log = logging.getLogger(__name__)

COMPONENTS = ("scheduler", "controllers", "gateway")
SCHEDULER_LEASE = "pyctl-scheduler"


@dataclass(frozen=True)
class ComponentsConfig:
    controllers: ManagerConfig = field(default_factory=ManagerConfig)
    """Controller timings, leader election on/off and lease timings (shared by the scheduler)."""
    scheduler: Any = None
    """A controlplane.scheduler.SchedulerConfig, or None for its defaults."""
    gateway_listen: str = "0.0.0.0:7443"
    """Where the node gateway (gRPC) listens for agents."""
    gateway: Any = None
    """A controlplane.gateway.GatewayConfig, or None for its defaults."""


@dataclass
class Running:
    """What `run_components` started; `await stop()` ends it in reverse order."""

    components: set[str]
    controllers: ControllerManager | None = None
    scheduler: Elected | None = None
    gateway: Any = None  # controlplane.gateway.GatewayHandle
    _clients: list[ApiClient] = field(default_factory=list)

    async def stop(self) -> None:
        if self.gateway is not None:
            with contextlib.suppress(Exception):
                await self.gateway.stop()
            self.gateway = None
        if self.scheduler is not None:
            await self.scheduler.stop()
            self.scheduler = None
        if self.controllers is not None:
            await self.controllers.stop()
            self.controllers = None
        for c in self._clients:
            await c.close()
        self._clients.clear()


def _elected_scheduler(api_url: str, config: ComponentsConfig, running: Running) -> Elected:
    from .scheduler import Scheduler  # imported here: it pulls in the whole scheduling framework

    mc = config.controllers
    client = ApiClient(api_url, user_agent="pyctl-scheduler-election")
    running._clients.append(client)
    box: dict[str, Scheduler] = {}

    async def started() -> None:
        box["s"] = Scheduler(api_url, config.scheduler)  # a fresh scheduler per term: no stale state
        await box["s"].start()

    async def stopped() -> None:
        scheduler = box.pop("s", None)
        if scheduler is not None:
            await scheduler.stop()

    election = ElectionConfig(name=SCHEDULER_LEASE, lease_duration=mc.lease_duration,
                              renew_deadline=mc.renew_deadline, retry_period=mc.retry_period,
                              identity=mc.identity)
    return Elected(client, election, started, stopped, enabled=mc.leader_election)


def with_identity(config: ComponentsConfig) -> ComponentsConfig:
    """`config` with a fresh candidate name, hostname_pid_random, unless it names one already.

    One name for this process in every Lease it takes part in, so `get leases` reads plainly;
    the pid is the caller's: `pyctl-controlplane`'s own, also for the components' child process.
    """
    if config.controllers.identity:
        return config
    identity = f"{socket.gethostname()}_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    return replace(config, controllers=replace(config.controllers, identity=identity))


async def run_components(api_url: str, components: set[str], config: ComponentsConfig | None = None) -> Running:
    """Start `components` (a subset of COMPONENTS; "apiserver" is ignored: the caller serves it)
    against the API server at `api_url`."""
    config = with_identity(config or ComponentsConfig())
    wanted = set(components) - {"apiserver"}
    unknown = wanted - set(COMPONENTS)
    if unknown:
        raise ValueError(f"unknown component(s): {', '.join(sorted(unknown))}; choose from {', '.join(COMPONENTS)}")
    running = Running(wanted)
    try:
        if "controllers" in wanted:
            running.controllers = ControllerManager(api_url, config=config.controllers)
            await running.controllers.start()
        if "scheduler" in wanted:
            running.scheduler = _elected_scheduler(api_url, config, running)
            await running.scheduler.start()
        if "gateway" in wanted:
            from .gateway import start_gateway

            running.gateway = await start_gateway(api_url, config.gateway_listen, config.gateway)
    except BaseException:
        await running.stop()
        raise
    log.info("components running: %s", ", ".join(sorted(wanted)) or "none")
    return running
