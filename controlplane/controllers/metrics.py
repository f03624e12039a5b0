"""The controllers' work-queue metrics, with client-go's names, labelled by queue name:
`workqueue_depth`, `workqueue_adds_total`, `workqueue_queue_duration_seconds` (added to
handed out), `workqueue_work_duration_seconds` (one sync), `workqueue_retries_total`.
Every controller drains a WorkQueue (workqueue.py), so this is where they are all measured.
The autoscaler's reconciliation time is kube's horizontal_pod_autoscaler_controller_*."""

from __future__ import annotations

from typing import Callable

from prometheus_client import Counter, Gauge, Histogram

from .. import exposition

_BUCKETS = (1e-6, 1e-5, 1e-4, 1e-3, 0.01, 0.1, 1, 10, 100, 1000)  # client-go's: 10^-8 .. 10^3
DEPTH = Gauge("workqueue_depth", "Current depth of workqueue", ["name"], registry=exposition.COMPONENTS)
ADDS = Counter("workqueue_adds_total", "Total number of adds handled by workqueue", ["name"],
               registry=exposition.COMPONENTS)
QUEUE_DURATION = Histogram("workqueue_queue_duration_seconds", "How long in seconds an item stays in "
                           "workqueue before being requested.", ["name"], buckets=_BUCKETS,
                           registry=exposition.COMPONENTS)
WORK_DURATION = Histogram("workqueue_work_duration_seconds", "How long in seconds processing an item "
                          "from workqueue takes.", ["name"], buckets=_BUCKETS, registry=exposition.COMPONENTS)
RETRIES = Counter("workqueue_retries_total", "Total number of retries handled by workqueue", ["name"],
                  registry=exposition.COMPONENTS)


HPA_RECONCILE = Histogram("horizontal_pod_autoscaler_controller_reconciliation_duration_seconds",
                          "The time(seconds) that the HPA controller takes to reconcile once.",
                          buckets=(0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 2.5, 5, 10),
                          registry=exposition.COMPONENTS)


class QueueMetrics:
    """One queue's children, looked up once."""

    def __init__(self, name: str, depth: Callable[[], int]) -> None:
        DEPTH.labels(name).set_function(depth)  # the queue running now under that name
        self.adds = ADDS.labels(name)
        self.queue_duration = QUEUE_DURATION.labels(name)
        self.work_duration = WORK_DURATION.labels(name)
        self.retries = RETRIES.labels(name)
