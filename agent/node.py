"""Agent: one node's runtime, pod manager and session, started and stopped together."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from .nodeinfo import NodeRegistration
from .pods import PodConfig, PodManager
from .runtime.base import Runtime
from .server import AgentServer
from .session import AgentSession, SessionConfig

log = logging.getLogger(__name__)


class Agent:
    def __init__(self, server: str, registration: NodeRegistration, runtime: Runtime, *,
                 host_ip: str, pod_config: PodConfig | None = None,
                 session_config: SessionConfig | None = None, listen: str | None = None) -> None:
        """`listen`: HOST:PORT of the agent's own gRPC API (logs, exec) that the API server
        proxies to; its bound port is reported in the registration. None: not served."""
        self.node_name = registration.node_name
        self.runtime = runtime
        self.registration = registration
        self.pods = PodManager(runtime, host_ip, pod_config)
        self.session = AgentSession(server, registration, self.pods, session_config)
        self.server = AgentServer(runtime, listen) if listen is not None else None
        self._task: asyncio.Task[None] | None = None

    def start(self) -> "Agent":
        self._task = asyncio.create_task(self._run(), name=f"agent-{self.node_name}")
        return self

    async def _run(self) -> None:
        if self.server is not None:
            # Before the session registers, so the Node carries the port the agent serves.
            self.registration.agent_port = await self.server.start()
        await self.session.run()

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
        if self.server is not None:
            await self.server.stop()
        await self.pods.stop()
        await self.runtime.close()
