"""The scheduler's metrics, with kube-scheduler's names: `scheduler_schedule_attempts_total` and
`scheduler_scheduling_attempt_duration_seconds` by result (scheduled, unschedulable, error) and
profile, and `scheduler_pending_pods` by queue (active, backoff, unschedulable), read from the
running scheduler's queue when scraped."""

from __future__ import annotations

import time
from typing import Callable, Protocol

from prometheus_client import Counter, Gauge, Histogram

from .. import exposition

ATTEMPTS = Counter("scheduler_schedule_attempts_total", "Number of attempts to schedule pods, by the "
                   "result. 'unschedulable' means a pod could not be scheduled, while 'error' means an "
                   "internal scheduler problem.", ["result", "profile"], registry=exposition.COMPONENTS)
ATTEMPT_DURATION = Histogram("scheduler_scheduling_attempt_duration_seconds", "Scheduling attempt latency "
                             "in seconds (scheduling algorithm + binding)", ["result", "profile"],
                             buckets=tuple(0.001 * 2 ** i for i in range(15)), registry=exposition.COMPONENTS)
PENDING = Gauge("scheduler_pending_pods", "Number of pending pods, by the queue type. 'active' means "
                "number of pods in activeQ; 'backoff' means number of pods in backoffQ; 'unschedulable' "
                "means number of pods in unschedulablePods.", ["queue"], registry=exposition.COMPONENTS)


class _Queue(Protocol):
    def sizes(self) -> dict[str, int]: ...


def watch_queue(queue: _Queue) -> None:
    """Report this queue's sizes (a new leader's scheduler replaces the last one's)."""
    def size(name: str) -> Callable[[], float]:
        return lambda: queue.sizes()[name]

    for name in ("active", "backoff", "unschedulable"):
        PENDING.labels(name).set_function(size(name))


def attempted(result: str, profile: str, started: float) -> None:
    """One pod's attempt ended with `result`; `started` is its time.perf_counter() at the start."""
    ATTEMPTS.labels(result, profile).inc()
    ATTEMPT_DURATION.labels(result, profile).observe(time.perf_counter() - started)
