"""The latest resource usage of every node and pod, in the API server's memory only.

Agents sample their cgroups and send NodeMetrics on their session; the gateway batches them
and POSTs a NodeMetricsBatch (protobuf) to `/internal/metrics` on its API server, which keeps
the latest report of each node here. Nothing goes to etcd: usage is rebuilt within one metrics
period after a restart, as metrics-server's is. A report older than STALE_PERIODS windows
(the node or its gateway went away) is no longer served.

Reads index pods by namespace, so `kubectl top pods -n NS` and the autoscaler's per-namespace
lists look at that namespace's pods only.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from pyctl_proto import node_pb2 as pb

STALE_PERIODS = 3
MIN_STALE = 30.0  # seconds: a short window must not make a report stale between two of them


@dataclass(frozen=True, slots=True)
class PodSample:
    node: str
    uid: str
    timestamp: float  # seconds since the epoch
    window: float  # seconds
    containers: tuple[tuple[str, int, int], ...]  # (name, nanocores, working set bytes)


@dataclass(frozen=True, slots=True)
class NodeSample:
    timestamp: float
    window: float
    cpu_nanocores: int
    memory_bytes: int
    has_usage: bool


class UsageStore:
    def __init__(self, clock=time.time) -> None:
        self.clock = clock
        self._nodes: dict[str, NodeSample] = {}
        self._pods_of_node: dict[str, list[tuple[str, str]]] = {}  # node -> (namespace, name)
        self._pods: dict[str, dict[str, PodSample]] = {}  # namespace -> name -> sample

    def ingest(self, batch: pb.NodeMetricsBatch) -> int:
        """Keep each node's report, replacing its last one; returns how many were taken."""
        taken = 0
        for report in batch.nodes:
            if not report.node:
                continue
            taken += 1
            ts, window = report.timestamp_unix_ms / 1000, report.window_ms / 1000
            self._nodes[report.node] = NodeSample(ts, window, report.usage.cpu_nanocores,
                                                  report.usage.memory_working_set_bytes,
                                                  report.HasField("usage"))
            for ns, name in self._pods_of_node.pop(report.node, ()):
                per_ns = self._pods.get(ns)
                if per_ns is not None and (s := per_ns.get(name)) is not None and s.node == report.node:
                    del per_ns[name]
            keys = []
            for pod in report.pods:
                self._pods.setdefault(pod.namespace, {})[pod.name] = PodSample(
                    report.node, pod.uid, ts, window,
                    tuple((c.name, c.usage.cpu_nanocores, c.usage.memory_working_set_bytes)
                          for c in pod.containers))
                keys.append((pod.namespace, pod.name))
            self._pods_of_node[report.node] = keys
        return taken

    def _fresh(self, timestamp: float, window: float) -> bool:
        return self.clock() - timestamp <= max(STALE_PERIODS * window, MIN_STALE)

    def node(self, name: str) -> NodeSample | None:
        sample = self._nodes.get(name)
        if sample is None or not sample.has_usage or not self._fresh(sample.timestamp, sample.window):
            return None
        return sample

    def pod(self, namespace: str, name: str) -> PodSample | None:
        sample = self._pods.get(namespace, {}).get(name)
        if sample is None or not self._fresh(sample.timestamp, sample.window):
            return None
        return sample

    def pods(self, namespace: str = "") -> list[tuple[str, str, PodSample]]:
        """(namespace, name, sample) of every fresh pod sample, in one namespace or all."""
        spaces = [namespace] if namespace else sorted(self._pods)
        return [(ns, name, s) for ns in spaces for name, s in sorted(self._pods.get(ns, {}).items())
                if self._fresh(s.timestamp, s.window)]

    def node_names(self) -> list[str]:
        return sorted(self._nodes)
