"""The agent's Prometheus metrics, with the kubelet's names, and the `/metrics` endpoint.

* `kubelet_pod_start_duration_seconds`: from the agent first seeing a pod to all its
  containers running (image pulls included), once per pod.
* `kubelet_runtime_operations_total`, `kubelet_runtime_operations_duration_seconds` and
  `kubelet_runtime_operations_errors_total` by operation_type (start_pod, stop_pod,
  restart_container, ...): every call the pod workers make to the runtime (`instrumented`).
* `prober_probe_total{probe_type,result}`: every liveness/readiness/startup check.
* `kubelet_image_pull_duration_seconds` and `pyctl_agent_image_pulls_total{result}`.

Labels never name a pod or container (the kubelet's prober metric does; pyctl keeps the
number of series fixed). Hollow agents that share a process share these counters.

`serve(listen)` exposes them over plain HTTP. The agent binds it to loopback by default
(127.0.0.1:10255, the kubelet's old read-only port): a Prometheus on the node, or one that
reaches it through a tunnel, scrapes it; an operator who wants it on the node's address says
so with --metrics-listen and protects the port as any unauthenticated endpoint.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import threading
import time
from typing import Any, Awaitable, Callable

import prometheus_client
from prometheus_client import CollectorRegistry, Counter, Histogram, ProcessCollector

log = logging.getLogger(__name__)

prometheus_client.disable_created_metrics()
REGISTRY = CollectorRegistry(auto_describe=True)
ProcessCollector(registry=REGISTRY)

_SECONDS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)
POD_START = Histogram("kubelet_pod_start_duration_seconds", "Duration in seconds from the agent seeing a "
                      "pod for the first time to the pod starting to run", buckets=_SECONDS,
                      registry=REGISTRY)
RUNTIME_OPS = Counter("kubelet_runtime_operations_total", "Cumulative number of runtime operations by "
                      "operation type.", ["operation_type"], registry=REGISTRY)
RUNTIME_DURATION = Histogram("kubelet_runtime_operations_duration_seconds", "Duration in seconds of runtime "
                             "operations. Broken down by operation type.", ["operation_type"],
                             buckets=_SECONDS, registry=REGISTRY)
RUNTIME_ERRORS = Counter("kubelet_runtime_operations_errors_total", "Cumulative number of runtime operation "
                         "errors by operation type.", ["operation_type"], registry=REGISTRY)
PROBES = Counter("prober_probe_total", "Cumulative number of a liveness, readiness or startup probe for a "
                 "container by result.", ["probe_type", "result"], registry=REGISTRY)
IMAGE_PULL = Histogram("kubelet_image_pull_duration_seconds", "Duration in seconds to pull an image.",
                       buckets=_SECONDS, registry=REGISTRY)
IMAGE_PULLS = Counter("pyctl_agent_image_pulls_total", "Image pulls, by result.", ["result"],
                      registry=REGISTRY)

_PROBE_TYPES = {"liveness": "Liveness", "readiness": "Readiness", "startup": "Startup"}


def probed(kind: str, ok: bool) -> None:
    PROBES.labels(_PROBE_TYPES.get(kind, kind), "successful" if ok else "failed").inc()


def pulled(seconds: float | None) -> None:
    """An image pull ended: it took `seconds`, or failed (None)."""
    if seconds is None:
        IMAGE_PULLS.labels("failed").inc()
    else:
        IMAGE_PULLS.labels("successful").inc()
        IMAGE_PULL.observe(seconds)


# -- the runtime, measured -----------------------------------------------------------------------

OPERATIONS = ("start_pod", "restart_container", "stop_container", "stop_containers", "exec_in_container",
              "exec_command", "stop_pod", "pod_status", "list_pods", "usage")


_CHILDREN = {name: (RUNTIME_OPS.labels(name), RUNTIME_DURATION.labels(name), RUNTIME_ERRORS.labels(name))
             for name in OPERATIONS}


def _measured(name: str, call: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
    ops, duration, errors = _CHILDREN[name]

    @functools.wraps(call)
    async def measured(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        ops.inc()
        try:
            return await call(*args, **kwargs)
        except Exception:
            errors.inc()
            raise
        finally:
            duration.observe(time.perf_counter() - started)
    return measured


class Instrumented:
    """A runtime whose operations are counted and timed; anything else (its name, the hollow
    runtime's simulated probes, attributes the agent sets on it) passes through to it. Each
    operation is looked up on the runtime when it is called, so replacing one (a test's spy)
    replaces what is measured."""

    def __init__(self, runtime: Any) -> None:
        object.__setattr__(self, "_inner", runtime)

    def __getattr__(self, name: str) -> Any:
        found = getattr(self._inner, name)
        return _measured(name, found) if name in _CHILDREN else found

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self._inner, name, value)


def instrumented(runtime: Any) -> Any:
    return runtime if isinstance(runtime, Instrumented) else Instrumented(runtime)


# -- /metrics ----------------------------------------------------------------------------------

class Endpoint:
    """The /metrics endpoint being served: prometheus_client's own small HTTP server, on a thread
    of its own. Not an aiohttp app: an agent then loads no HTTP framework (aiohttp is about a
    sixth of an idle agent's memory), and a scrape reads counters that are thread-safe anyway."""

    def __init__(self, server: Any, thread: threading.Thread) -> None:
        self._server, self._thread = server, thread

    async def cleanup(self) -> None:
        """Stop serving and close the port (shutdown waits for the serving loop's next poll)."""
        await asyncio.to_thread(self._server.shutdown)
        self._server.server_close()
        await asyncio.to_thread(self._thread.join, 5.0)


async def serve(listen: str) -> Endpoint | None:
    """Serve /metrics on HOST:PORT; None (and a warning) when it cannot listen there: metrics
    are not worth failing a node for."""
    host, _, port = listen.rpartition(":")
    try:
        server, thread = prometheus_client.start_http_server(int(port), host.strip("[]") or "127.0.0.1",
                                                             registry=REGISTRY)
    except (OSError, ValueError) as exc:
        log.warning("agent metrics not served on %s: %s", listen, exc)
        return None
    log.info("agent metrics on http://%s/metrics", listen)
    return Endpoint(server, thread)
