"""Node events write-back: accepted at once, written in batches as v1 Events.

Sessions submit the events their node sent about its own pods (the session checks the pod
is bound to it). Submissions land in one dict keyed by (node, pod, fieldPath, type, reason,
message), so repeats that arrive between two flushes become ONE write whose count is their
sum; every `interval` the batch is written through one EventRecorder per node (source
component `pyctl-agent`, host = the node), which folds repeats within its window into the
existing Event (count, lastTimestamp) instead of creating another. The writes of one flush
go together in one batch request (client/batch.py). As the kubelet's --event-qps/--event-burst, each node may add new
events at `node_qps` (bursts of `node_burst`), and the dict is bounded: under a flood (5,000
hollow pods starting at once) what does not fit is dropped and counted, never queued without
end, so status writes keep the API server. Events expire by the API server's TTL.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

from ..client import ApiClient
from ..client.batch import BatchWriter
from ..events import EventRecorder
from .batching import FlushLoop

COMPONENT = "pyctl-agent"


@dataclass(frozen=True)
class EventKey:
    node: str
    namespace: str
    name: str
    uid: str
    field_path: str
    type: str
    reason: str
    message: str


class EventWriter(FlushLoop):
    task_name = "gateway-event-writer"

    def __init__(self, client: ApiClient, *, interval: float = 0.5, concurrency: int = 1024,
                 limit: int = 10000, node_qps: float = 50.0, node_burst: int = 100) -> None:
        self.client = client
        self.interval = interval
        self.limit = limit
        self.node_qps, self.node_burst = node_qps, node_burst
        self._buckets: dict[str, tuple[float, float]] = {}  # node -> (tokens, monotonic time)
        self._pending: dict[EventKey, list[Any]] = {}  # key -> [pod, count]
        self._recorders: dict[str, EventRecorder] = {}
        self._sem = asyncio.Semaphore(concurrency)
        self._writes = BatchWriter(client)  # every node's recorder: a flush is one request or a few
        self.written = 0  # writes made (one per distinct event per flush), for tests and metrics
        self.dropped = 0  # events refused: the batch was full or their node over its rate

    def __len__(self) -> int:
        return len(self._pending)

    def submit(self, key: EventKey, pod: dict[str, Any], count: int = 1, at: float = 0.0) -> None:
        """`at`: when the node saw it first (seconds since the epoch; 0 = now)."""
        entry = self._pending.get(key)
        if entry is not None:
            entry[1] += count  # a repeat costs no write
        elif len(self._pending) < self.limit and self._allow(key.node):
            self._pending[key] = [pod, count, at]
        else:
            self.dropped += count

    def _allow(self, node: str) -> bool:
        """Token bucket per node: `node_qps` new events a second, bursts of `node_burst`."""
        now = time.monotonic()
        tokens, then = self._buckets.get(node, (float(self.node_burst), now))
        tokens = min(float(self.node_burst), tokens + (now - then) * self.node_qps)
        if tokens < 1:
            self._buckets[node] = (tokens, now)
            return False
        self._buckets[node] = (tokens - 1, now)
        return True

    async def flush(self) -> None:
        batch, self._pending = self._pending, {}
        if batch:
            await asyncio.gather(*(self._write(k, pod, n, at) for k, (pod, n, at) in batch.items()))

    def _recorder(self, node: str) -> EventRecorder:
        rec = self._recorders.get(node)
        if rec is None:
            rec = self._recorders[node] = EventRecorder(self.client, COMPONENT, host=node, writes=self._writes)
        return rec

    async def _write(self, k: EventKey, pod: dict[str, Any], count: int, at: float = 0.0) -> None:
        # The cached pod may lack kind/apiVersion (list items do): the reference needs them.
        obj = {"kind": "Pod", "apiVersion": "v1", "metadata": pod.get("metadata") or {}}
        async with self._sem:
            await self._recorder(k.node).event(obj, k.type, k.reason, k.message,
                                               field_path=k.field_path, count=count, at=at or None)
            self.written += 1
