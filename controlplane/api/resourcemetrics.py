"""metrics.k8s.io/v1beta1 as metrics-server serves it, from the usage kept in memory.

    GET /apis/metrics.k8s.io/v1beta1/nodes[/NAME]
    GET /apis/metrics.k8s.io/v1beta1/pods                      (every namespace)
    GET /apis/metrics.k8s.io/v1beta1/namespaces/NS/pods[/NAME]
    POST /internal/metrics   (the gateway's NodeMetricsBatch, protobuf; see usagestore.py)

Objects carry metrics-server's fields and units: `timestamp` (the end of the window),
`window` (a Go duration), CPU in nanocores ("123456n") and memory working set as a binary
quantity ("12345Ki"); metadata has the node's or pod's labels, which `labelSelector` matches,
as metrics-server's does. A pod is served only while it exists with the uid that was measured;
a node only while its Node does. Tables (`kubectl get podmetrics`) use the kind's printer.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Callable

from aiohttp import web

from pyctl_proto import node_pb2 as pb

from ..machinery.meta import now_rfc3339
from ..machinery.units import binary_quantity, decimal_quantity, go_duration
from ..resources import tables
from ..resources.kinds.metrics import NODE_METRICS, POD_METRICS
from ..resources.kinds.node import NODE
from ..resources.kinds.pod import POD
from ..store import keys
from . import errors, request as req
from .cache import WatchCache
from .responses import json_response
from .usagestore import NodeSample, PodSample, UsageStore

API_VERSION = "metrics.k8s.io/v1beta1"
PROTOBUF = "application/x-protobuf"
INGEST_PATH = "/internal/metrics"
MAX_BATCH = 64 * 1024 * 1024


def _time(seconds: float) -> str:
    return dt.datetime.fromtimestamp(seconds, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _usage(cpu_nanocores: int, memory_bytes: int) -> dict[str, str]:
    return {"cpu": decimal_quantity(cpu_nanocores, -9), "memory": binary_quantity(memory_bytes)}


def node_metrics(node: dict[str, Any], sample: NodeSample, created: str) -> dict[str, Any]:
    md = node.get("metadata") or {}
    return {"kind": "NodeMetrics", "apiVersion": API_VERSION,
            "metadata": {"name": md.get("name", ""), "creationTimestamp": created,
                         "labels": dict(md.get("labels") or {})},
            "timestamp": _time(sample.timestamp), "window": go_duration(sample.window),
            "usage": _usage(sample.cpu_nanocores, sample.memory_bytes)}


def pod_metrics(pod: dict[str, Any], sample: PodSample, created: str) -> dict[str, Any]:
    md = pod.get("metadata") or {}
    return {"kind": "PodMetrics", "apiVersion": API_VERSION,
            "metadata": {"name": md.get("name", ""), "namespace": md.get("namespace", ""),
                         "creationTimestamp": created, "labels": dict(md.get("labels") or {})},
            "timestamp": _time(sample.timestamp), "window": go_duration(sample.window),
            "containers": [{"name": name, "usage": _usage(cpu, mem)} for name, cpu, mem in sample.containers]}


class ResourceMetrics:
    def __init__(self, usage: UsageStore, cache: Callable[[], WatchCache]) -> None:
        self.usage = usage
        self.cache = cache
        self.relay: Callable[[bytes], None] | None = None

    # -- what exists and was measured ---------------------------------------------------------

    def _node(self, name: str, created: str) -> dict[str, Any] | None:
        entry = self.cache().get(keys.object_key(NODE.info.resource, None, name))
        sample = self.usage.node(name)
        return node_metrics(entry.obj, sample, created) if entry is not None and sample is not None else None

    def _pod(self, namespace: str, name: str, sample: PodSample | None, created: str) -> dict[str, Any] | None:
        if sample is None:
            return None
        entry = self.cache().get(keys.object_key(POD.info.resource, namespace, name))
        if entry is None or (entry.obj.get("metadata") or {}).get("uid") != sample.uid:
            return None  # gone, or a new pod of that name that was not measured yet
        return pod_metrics(entry.obj, sample, created)

    # -- handlers -----------------------------------------------------------------------------

    async def nodes(self, request: web.Request) -> web.Response:
        name, created = request.match_info.get("name", ""), now_rfc3339()
        _reads_only(request)
        if name:
            found = self._node(name, created)
            if found is None:
                raise _not_found("nodemetrics", name)
            return self._render(request, NODE_METRICS.printer, [found], None)
        opts = req.list_options(request, "nodemetrics")
        items = [m for n in self.usage.node_names() if (m := self._node(n, created)) and req.matches(opts, m)]
        return self._render(request, NODE_METRICS.printer, items, "NodeMetricsList")

    async def pods(self, request: web.Request) -> web.Response:
        namespace, name = request.match_info.get("namespace", ""), request.match_info.get("name", "")
        created = now_rfc3339()
        _reads_only(request)
        if name:
            found = self._pod(namespace, name, self.usage.pod(namespace, name), created)
            if found is None:
                raise _not_found("podmetrics", f"{namespace}/{name}")
            return self._render(request, POD_METRICS.printer, [found], None)
        opts = req.list_options(request, "podmetrics")
        items = [m for ns, n, s in self.usage.pods(namespace)
                 if (m := self._pod(ns, n, s, created)) and req.matches(opts, m)]
        return self._render(request, POD_METRICS.printer, items, "PodMetricsList")

    def _render(self, request: web.Request, printer: tables.Printer, items: list[dict[str, Any]],
                list_kind: str | None) -> web.Response:
        version = req.table_version(request)
        if version:
            return json_response(tables.table(printer, items, now=dt.datetime.now(dt.timezone.utc),
                                              include_object=req.include_object(request),
                                              api_version=f"meta.k8s.io/{version}"))
        if list_kind is None:
            return json_response(items[0])
        return json_response({"kind": list_kind, "apiVersion": API_VERSION, "metadata": {}, "items": items})

    async def ingest(self, request: web.Request) -> web.Response:
        """The gateway's batch of node reports (protobuf NodeMetricsBatch)."""
        if request.content_type != PROTOBUF:
            raise errors.ApiError(415, f"{INGEST_PATH} takes a {PROTOBUF} NodeMetricsBatch",
                                  "UnsupportedMediaType")
        raw = await request.content.read(MAX_BATCH + 1)
        if len(raw) > MAX_BATCH:
            raise errors.ApiError(413, f"request entity too large: limit is {MAX_BATCH} bytes")
        batch = pb.NodeMetricsBatch()
        try:
            batch.ParseFromString(raw)
        except Exception as exc:  # protobuf's DecodeError
            raise errors.bad_request(f"the NodeMetricsBatch cannot be decoded: {exc}") from None
        taken = self.usage.ingest(batch)
        if self.relay is not None:
            self.relay(raw)
        return json_response({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
                              "message": f"{taken} node report(s) taken", "code": 200})


def _reads_only(request: web.Request) -> None:
    if request.query.get("watch", "").lower() in ("1", "true"):
        raise errors.method_not_allowed("WATCH", request.path)


def _not_found(kind: str, name: str) -> errors.ApiError:
    return errors.ApiError(404, f'{kind}.metrics.k8s.io "{name}" not found', "NotFound",
                           {"name": name, "group": "metrics.k8s.io", "kind": kind})


def add_routes(app: web.Application, usage: UsageStore, cache: Callable[[], WatchCache],
               relay: Callable[[bytes], None] | None = None) -> None:
    """Before the generic /apis routes: these resources are not in the store. `relay` is told
    each report taken (the raw NodeMetricsBatch), to pass it on to the other API workers."""
    served = ResourceMetrics(usage, cache)
    served.relay = relay
    base = f"/apis/{API_VERSION}"
    app.router.add_get(f"{base}/nodes", served.nodes)
    app.router.add_get(f"{base}/nodes/{{name}}", served.nodes)
    app.router.add_get(f"{base}/pods", served.pods)
    app.router.add_get(f"{base}/namespaces/{{namespace}}/pods", served.pods)
    app.router.add_get(f"{base}/namespaces/{{namespace}}/pods/{{name}}", served.pods)
    app.router.add_route("*", f"{base}/{{tail:.*}}", _refuse)  # read-only, whatever the method
    app.router.add_post(INGEST_PATH, served.ingest)


async def _refuse(request: web.Request) -> web.Response:
    raise errors.method_not_allowed(request.method, request.path)
