"""The node gateway's metrics (pyctl's own: Kubernetes has no gateway).

* `pyctl_gateway_sessions`: agents connected to this gateway now.
* `pyctl_gateway_registrations_total`: sessions registered since start (reconnects included).
* `pyctl_gateway_agent_messages_total{type}`: messages received from agents by kind
  (heartbeat, pod_status, events, metrics, ...).
* `pyctl_gateway_assignment_lag_seconds`: stream lag, from a pod change reaching the gateway
  to the assignment that carries it leaving for the node.
* `pyctl_gateway_node_metrics_forwarded_total{result}`: resource-usage batches handed to the
  API server (metrics.k8s.io), by result.
"""

from __future__ import annotations

from typing import Callable, Sized

from prometheus_client import Counter, Gauge, Histogram

from .. import exposition

SESSIONS = Gauge("pyctl_gateway_sessions", "Agent sessions open on this gateway.",
                 registry=exposition.COMPONENTS)
REGISTRATIONS = Counter("pyctl_gateway_registrations_total", "Agent sessions registered.",
                        registry=exposition.COMPONENTS)
MESSAGES = Counter("pyctl_gateway_agent_messages_total", "Messages received from agents, by type.",
                   ["type"], registry=exposition.COMPONENTS)
ASSIGNMENT_LAG = Histogram("pyctl_gateway_assignment_lag_seconds", "Seconds from a pod change reaching "
                           "the gateway to the assignment carrying it being sent to the node.",
                           buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
                           registry=exposition.COMPONENTS)
FORWARDED = Counter("pyctl_gateway_node_metrics_forwarded_total", "Batches of node resource usage sent to "
                    "the API server, by result.", ["result"], registry=exposition.COMPONENTS)

_by_type: dict[str, Callable[[], None]] = {}


def received(kind: str) -> None:
    """One message of this kind came from an agent."""
    inc = _by_type.get(kind)
    if inc is None:
        inc = _by_type[kind] = MESSAGES.labels(kind).inc
    inc()


def watch_sessions(sessions: Sized) -> None:
    SESSIONS.set_function(lambda: len(sessions))
