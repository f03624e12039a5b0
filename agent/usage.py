"""Resource usage reports for metrics.k8s.io: cumulative counters in, rates out.

Every metrics period (the gateway sets it in Registered) the session asks `sample()`; the
runtime reports what the node and each running container have used so far (cgroups, or the
hollow runtime's simulation) and this turns two samples into what metrics-server serves:
CPU as nanocores averaged over the window between them, memory as the working set now.
A container seen for the first time, or whose ID changed (it restarted: its counter began
again), has no rate yet, and its pod is left out of this report: as metrics-server, only pods
measured whole are served (a partial sum would read as low usage to an autoscaler).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from pyctl_proto import node_pb2 as pb

from .runtime.base import Counters, NodeUsage, Runtime


@dataclass
class _Previous:
    at: float  # time.monotonic() of the sample
    node: Counters | None
    containers: dict[tuple[str, str], tuple[str, Counters]] = field(default_factory=dict)


def _rate(before: Counters, now: Counters, seconds: float) -> int | None:
    used = now.cpu_ns - before.cpu_ns
    return None if used < 0 or seconds <= 0 else int(used / seconds)


class UsageReporter:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self._previous: _Previous | None = None

    async def sample(self) -> pb.NodeMetrics | None:
        """The report since the previous sample (None for the first one, which only starts it)."""
        usage = await self.runtime.usage()
        return self.report(usage, time.monotonic(), time.time())

    def report(self, usage: NodeUsage, now: float, wall: float) -> pb.NodeMetrics | None:
        """Pure: `usage` taken at monotonic `now` (wall-clock `wall`) against the previous one."""
        previous, self._previous = self._previous, _Previous(now, usage.node, {
            (pod.uid, name): state for pod in usage.pods for name, state in pod.containers.items()})
        if previous is None:
            return None
        window = now - previous.at
        out = pb.NodeMetrics(timestamp_unix_ms=int(wall * 1000), window_ms=int(window * 1000))
        if usage.node is not None and previous.node is not None:
            cpu = _rate(previous.node, usage.node, window)
            if cpu is not None:
                out.usage.CopyFrom(pb.ResourceUsage(cpu_nanocores=cpu,
                                                    memory_working_set_bytes=usage.node.memory_working_set))
        for pod in usage.pods:
            containers = []
            for name, (cid, counters) in sorted(pod.containers.items()):
                before = previous.containers.get((pod.uid, name))
                cpu = _rate(before[1], counters, window) if before and before[0] == cid else None
                if cpu is not None:
                    containers.append(pb.ContainerUsage(name=name, usage=pb.ResourceUsage(
                        cpu_nanocores=cpu, memory_working_set_bytes=counters.memory_working_set)))
            if containers and len(containers) == len(pod.containers):  # whole pods only
                out.pods.append(pb.PodUsage(namespace=pod.namespace, name=pod.name, uid=pod.uid,
                                            containers=containers))
        return out
