"""metrics.k8s.io/v1beta1 NodeMetrics and PodMetrics: served read-only from the API server's
memory (api/usagestore.py, api/resourcemetrics.py), never stored. Registered like any kind, so
that discovery lists the group (`kubectl top` looks for it there), RBAC names its resources and
`kubectl get` prints them with the columns metrics-server's tables have."""

from __future__ import annotations

from ..info import ResourceInfo
from ..kind import Kind
from ..tables import NAME, Column, Printer, Row

READ_ONLY = ("get", "list")


def _usage(r: Row, resource: str) -> str:
    usage = r.obj.get("usage")
    if usage is None:  # PodMetrics: the sum is kubectl's business; show the containers'
        return ",".join(str((c.get("usage") or {}).get(resource, "")) for c in r.obj.get("containers") or [])
    return str(usage.get(resource, ""))


_PRINTER = Printer((
    NAME,
    Column("CPU", lambda r: _usage(r, "cpu"), description="CPU usage in nanocores"),
    Column("Memory", lambda r: _usage(r, "memory"), description="Memory working set"),
    Column("Window", lambda r: str(r.obj.get("window", "")), description="Window the usage is averaged over"),
))

NODE_METRICS = Kind(ResourceInfo("metrics.k8s.io", "v1beta1", "nodes", "NodeMetrics", "", False,
                                 verbs=READ_ONLY), printer=_PRINTER)
POD_METRICS = Kind(ResourceInfo("metrics.k8s.io", "v1beta1", "pods", "PodMetrics", "", True,
                                verbs=READ_ONLY), printer=_PRINTER)
