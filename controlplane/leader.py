"""Leader election over a coordination.k8s.io/v1 Lease, through the API (as client-go does).

Several control-plane processes may run; the scheduler and the controllers act only while
their process holds the lease. Expiry is judged by when *this* process last saw the lease
change, not by the holder's clock, so clock skew between hosts cannot cause two leaders.
Writes are compare-and-swap on resourceVersion, so two candidates can never both win.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import os
import socket
import uuid
from dataclasses import dataclass
from typing import Awaitable, Callable

from .client import AlreadyExists, ApiClient, ApiError, Conflict, NotFound
from .client.kinds import LEASES

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ElectionConfig:
    name: str
    """The Lease's name in `namespace` (one per elected component)."""
    namespace: str = "kube-system"
    lease_duration: float = 15.0
    """Seconds a standby waits without seeing a renewal before taking over."""
    renew_deadline: float = 10.0
    """Seconds the leader keeps trying to renew before it steps down."""
    retry_period: float = 2.0
    """Seconds between attempts (and between renewals)."""
    identity: str = ""
    """This candidate's name; hostname_pid_random when empty."""


def _micro_now() -> str:
    return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class LeaderElector:
    def __init__(self, client: ApiClient, config: ElectionConfig) -> None:
        self.client = client
        self.config = config
        self.identity = config.identity or f"{socket.gethostname()}_{os.getpid()}_{uuid.uuid4().hex[:6]}"
        self.is_leader = False
        self._observed: tuple[str, float] | None = None  # (resourceVersion, when we saw it)

    async def run(self, on_started: Callable[[], Awaitable[None]],
                  on_stopped: Callable[[], Awaitable[None]]) -> None:
        """Campaign forever: lead while the lease is ours, stand by otherwise."""
        loop = asyncio.get_running_loop()
        while True:
            while not await self._try():
                await asyncio.sleep(self.config.retry_period)
            self.is_leader = True
            log.info("%s: %s became leader", self.config.name, self.identity)
            try:
                await on_started()
                last_renew = loop.time()
                while loop.time() - last_renew < self.config.renew_deadline:
                    await asyncio.sleep(self.config.retry_period)
                    if await self._try():
                        last_renew = loop.time()
                log.warning("%s: %s could not renew the lease; standing by", self.config.name,
                            self.identity)
            finally:
                self.is_leader = False
                await on_stopped()

    async def release(self) -> None:
        """Give the lease up at once (clean shutdown), so a standby need not wait it out.

        Safe after run() was cancelled: it checks the holder on the server, not a local flag."""
        with contextlib.suppress(ApiError):
            lease = await self.client.get(LEASES, self.config.name, self.config.namespace)
            if lease.get("spec", {}).get("holderIdentity") == self.identity:
                lease["spec"]["holderIdentity"] = ""
                lease["spec"]["leaseDurationSeconds"] = 1
                await self.client.update(LEASES, lease, self.config.namespace)
                log.info("%s: %s released the lease", self.config.name, self.identity)

    async def _try(self) -> bool:
        """One acquire-or-renew attempt; True when we hold the lease afterwards."""
        cfg = self.config
        now = _micro_now()
        try:
            lease = await self.client.get(LEASES, cfg.name, cfg.namespace)
        except NotFound:
            body = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                    "metadata": {"name": cfg.name, "namespace": cfg.namespace},
                    "spec": {"holderIdentity": self.identity, "leaseDurationSeconds": int(cfg.lease_duration),
                             "acquireTime": now, "renewTime": now, "leaseTransitions": 0}}
            try:
                await self.client.create(LEASES, body, cfg.namespace)
                return True
            except (AlreadyExists, ApiError):
                return False
        except ApiError as exc:
            log.debug("lease read failed: %s", exc)
            return False
        spec = lease.setdefault("spec", {})
        holder = spec.get("holderIdentity") or ""
        rv = lease["metadata"].get("resourceVersion", "")
        loop_now = asyncio.get_running_loop().time()
        if self._observed is None or self._observed[0] != rv:
            self._observed = (rv, loop_now)
        duration = float(spec.get("leaseDurationSeconds") or cfg.lease_duration)
        expired = loop_now - self._observed[1] > duration
        if holder and holder != self.identity and not expired:
            return False
        if holder != self.identity:
            spec["acquireTime"] = now
            spec["leaseTransitions"] = int(spec.get("leaseTransitions") or 0) + (1 if holder else 0)
        spec.update(holderIdentity=self.identity, renewTime=now, leaseDurationSeconds=int(cfg.lease_duration))
        try:
            updated = await self.client.update(LEASES, lease, cfg.namespace)
        except (Conflict, ApiError):
            return False
        self._observed = (updated["metadata"].get("resourceVersion", ""), asyncio.get_running_loop().time())
        return True
