"""Resource usage from agents to the API server: the latest report per node, forwarded in batches.

Each agent sends a NodeMetrics every metrics period; a session checks that every pod in it is
bound to its node (a node speaks for its own pods only) and hands it here. Reports wait in a
dict keyed by node (a newer one replaces an older unsent one) and go to the API server every
`interval` as one NodeMetricsBatch (protobuf, POST /internal/metrics), so 500 nodes reporting
every 15 s cost the API server a few requests a second, not one per node. Nothing is stored:
the API server keeps the latest in memory and serves metrics.k8s.io from it.
"""

from __future__ import annotations

import logging

from pyctl_proto import node_pb2 as pb

from ..client import ApiClient, ApiError
from . import metrics
from .batching import FlushLoop

log = logging.getLogger(__name__)

PATH = "/internal/metrics"


class UsageForwarder(FlushLoop):
    task_name = "gateway-usage-forwarder"

    def __init__(self, client: ApiClient, *, interval: float = 1.0) -> None:
        self.client = client
        self.interval = interval
        self._pending: dict[str, pb.NodeMetrics] = {}

    def submit(self, report: pb.NodeMetrics) -> None:
        self._pending[report.node] = report

    async def flush(self) -> None:
        batch, self._pending = self._pending, {}
        if not batch:
            return
        body = pb.NodeMetricsBatch(nodes=list(batch.values())).SerializeToString()
        try:
            await self.client.request("POST", self.client.config.base_url + PATH, body=body,
                                      content_type="application/x-protobuf")
            metrics.FORWARDED.labels("sent").inc()
        except ApiError as exc:  # the next report of each node comes a period later anyway
            metrics.FORWARDED.labels("failed").inc()
            log.warning("forwarding the resource usage of %d node(s): %s", len(batch), exc)
