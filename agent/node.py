"""Agent: one node's runtime, pod manager and session, started and stopped together."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from .nodeinfo import NodeRegistration
from .pods import PodConfig, PodManager
from .runtime.base import Runtime
from .session import AgentSession, SessionConfig

log = logging.getLogger(__name__)


class Agent:
    def __init__(self, server: str, registration: NodeRegistration, runtime: Runtime, *,
                 host_ip: str, pod_config: PodConfig | None = None,
                 session_config: SessionConfig | None = None) -> None:
        self.node_name = registration.node_name
        self.runtime = runtime
        self.pods = PodManager(runtime, host_ip, pod_config)
        self.session = AgentSession(server, registration, self.pods, session_config)
        self._task: asyncio.Task[None] | None = None

    def start(self) -> "Agent":
        self._task = asyncio.create_task(self.session.run(), name=f"agent-{self.node_name}")
        return self

    async def run(self) -> None:
        """Run until cancelled."""
        self.start()
        assert self._task is not None
        try:
            await self._task
        finally:
            await self.stop()

    async def stop(self) -> None:
        """Leave the control plane and stop the sync loops; pods stay with the runtime."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self.pods.stop()
        await self.runtime.close()
