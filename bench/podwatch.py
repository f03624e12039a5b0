"""A pod watch that timestamps, with this process's monotonic clock, when each pod was first
seen, first seen bound to a node, first seen Running and first seen Ready.

creationTimestamp has one-second resolution and another process's clock, so latencies are
taken between these local timestamps; the watch is started before the creates, so "first
seen" is the create as the API server announced it."""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field

import aiohttp

from .cluster import wait_for


@dataclass
class PodTimes:
    added: float
    bound: float | None = None
    running: float | None = None
    ready: float | None = None
    deleted: float | None = None


@dataclass
class PodWatch:
    url: str
    namespace: str = "default"
    pods: dict[str, PodTimes] = field(default_factory=dict)
    events: int = 0
    _task: asyncio.Task | None = None

    async def start(self, session: aiohttp.ClientSession) -> "PodWatch":
        async with session.get(f"{self.url}/api/v1/namespaces/{self.namespace}/pods") as r:
            rv = (await r.json())["metadata"]["resourceVersion"]
        self._task = asyncio.create_task(self._run(session, rv))
        return self

    async def _run(self, session: aiohttp.ClientSession, rv: str) -> None:
        params = {"watch": "1", "resourceVersion": rv, "allowWatchBookmarks": "false"}
        for _ in range(100):  # a dropped stream resumes from the last version seen; bounded
            async with session.get(f"{self.url}/api/v1/namespaces/{self.namespace}/pods", params=params,
                                   timeout=aiohttp.ClientTimeout(total=None, sock_read=None)) as r:
                async for line in r.content:
                    if line.strip():
                        ev = json.loads(line)
                        params["resourceVersion"] = ev["object"]["metadata"].get("resourceVersion", rv)
                        self._observe(ev["type"], ev["object"], time.perf_counter())
            await asyncio.sleep(0.1)

    def _observe(self, kind: str, pod: dict, now: float) -> None:
        self.events += 1
        name = pod["metadata"]["name"]
        t = self.pods.setdefault(name, PodTimes(now))
        if kind == "DELETED":
            t.deleted = t.deleted or now
            return
        status = pod.get("status") or {}
        if t.bound is None and (pod.get("spec") or {}).get("nodeName"):
            t.bound = now
        if t.running is None and status.get("phase") == "Running":
            t.running = now
        if t.ready is None and any(c.get("type") == "Ready" and c.get("status") == "True"
                                   for c in status.get("conditions") or []):
            t.ready = now

    def count(self, attr: str, prefix: str = "") -> int:
        return sum(1 for n, t in self.pods.items() if n.startswith(prefix) and getattr(t, attr) is not None)

    async def wait_count(self, attr: str, n: int, timeout: float, prefix: str = "") -> bool:
        """True once `n` pods (named with `prefix`) have `attr`; False at the time limit."""
        try:
            await wait_for(lambda: self.count(attr, prefix) >= n, timeout, f"{n} pods {attr}", 0.05)
            return True
        except TimeoutError:
            return False

    def stop(self) -> None:
        if self._task:
            self._task.cancel()
