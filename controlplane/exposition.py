"""The Prometheus registries of the control plane's processes, and their text exposition.

Two registries, because the components may run in a process of their own:

* `SERVER`: what the API server's process exports (apiserver_*, etcd_*, and process_* /
  python_* of that process).
* `COMPONENTS`: the scheduler's, the controllers' and the gateway's families (scheduler_*,
  workqueue_*, pyctl_gateway_*, pyctl_hpa_*), plus `pyctl_components_process_*` for the process
  that runs them. With the components in their own child process (the default), that child
  serves this registry to the parent, which appends it to the API server's `/metrics`
  (componentsproc.py); inline, the API server appends its own. Families are disjoint, so the
  two expositions concatenate into one valid document.

Each component declares its metrics in a `metrics.py` of its own package, with the official
client library; this module only owns the registries and the encoding.
"""

from __future__ import annotations

import prometheus_client
from prometheus_client import CollectorRegistry, GCCollector, PlatformCollector, ProcessCollector

# kube's exposition has no `_created` series; they would double the size of every scrape.
prometheus_client.disable_created_metrics()

CONTENT_TYPE = prometheus_client.CONTENT_TYPE_PLAIN_0_0_4
"""The text format 0.0.4 every Prometheus version scrapes."""

SERVER = CollectorRegistry(auto_describe=True)
ProcessCollector(registry=SERVER)
PlatformCollector(registry=SERVER)
GCCollector(registry=SERVER)

COMPONENTS = CollectorRegistry(auto_describe=True)
ProcessCollector(namespace="pyctl_components", registry=COMPONENTS)


def render(registry: CollectorRegistry) -> bytes:
    """The registry in the text exposition format."""
    return prometheus_client.generate_latest(registry)
