"""The node proxy: `pods/log` served by the pod's node agent, as kube-apiserver proxies to the kubelet.

This module owns choosing the container, refusing what the agent cannot serve with the
same metav1.Status kube returns, finding the agent (the Node's InternalIP and
status.daemonEndpoints.kubeletEndpoint.Port) and relaying its gRPC Logs stream as a
chunked text/plain response. `pods/exec` (exec.py) and `pods/portforward` (portforward.py)
reuse the same lookups. The channel is mutual TLS when the API server has kubelet client
credentials (agentchannel.py).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import math
from typing import Any, Callable

import grpc
from aiohttp import web

from pyctl_proto import node_pb2 as pb
from pyctl_proto import node_pb2_grpc

from ..resources import registry
from . import errors
from .agentchannel import AgentTls, agent_channel
from .paths import Target
from .storage import ObjectStore

DEFAULT_CONTAINER = "kubectl.kubernetes.io/default-container"
DISCONNECT_POLL = 1.0  # seconds between looks at whether a followed log's client is still there
READY = ("pyctl-logs", "streaming")  # the agent's initial metadata once the request is valid

_GRPC_TO_HTTP = {grpc.StatusCode.NOT_FOUND: 404, grpc.StatusCode.INVALID_ARGUMENT: 400,
                 grpc.StatusCode.FAILED_PRECONDITION: 400, grpc.StatusCode.UNIMPLEMENTED: 501,
                 grpc.StatusCode.DEADLINE_EXCEEDED: 504}


def handler_cancelled() -> bool:
    """Whether the running handler itself is being cancelled (server shutdown), as opposed to
    a CancelledError from an inner call a client's departure cancelled."""
    current = asyncio.current_task()
    return current is not None and current.cancelling() > 0


def bad(message: str) -> errors.ApiError:
    return errors.ApiError(400, message, "BadRequest")


def choose_container(pod: dict[str, Any], asked: str) -> str:
    name = pod["metadata"]["name"]
    containers = [c["name"] for c in (pod.get("spec") or {}).get("containers") or []]
    init = [c["name"] for c in (pod.get("spec") or {}).get("initContainers") or []]
    if asked:
        if asked not in containers + init:
            raise bad(f"container {asked} is not valid for pod {name}")
        return asked
    default = ((pod["metadata"].get("annotations") or {}).get(DEFAULT_CONTAINER) or "")
    if default in containers:
        return default
    if len(containers) == 1:
        return containers[0]
    raise bad(f"a container name must be specified for pod {name}, choose one of: "
               f"[{' '.join(containers)}]" + (f" or one of the init containers: [{' '.join(init)}]"
                                              if init else ""))


def check_started(pod: dict[str, Any], container: str, previous: bool) -> None:
    """kube's validateContainerLogStatus: a container that never ran has no log."""
    name = pod["metadata"]["name"]
    status = pod.get("status") or {}
    statuses = (status.get("containerStatuses") or []) + (status.get("initContainerStatuses") or [])
    cs = next((s for s in statuses if s.get("name") == container), None)
    if cs is None:
        reason = "ContainerCreating" if (pod.get("spec") or {}).get("nodeName") else "PodInitializing"
        raise bad(f'container "{container}" in pod "{name}" is waiting to start: {reason}')
    state, last = cs.get("state") or {}, cs.get("lastState") or {}
    if previous:
        if "terminated" not in last:
            raise bad(f'previous terminated container "{container}" in pod "{name}" not found')
    elif "waiting" in state and "terminated" not in last:
        reason = state["waiting"].get("reason") or "ContainerCreating"
        reason = {"ErrImagePull": "image can't be pulled",
                  "ImagePullBackOff": "trying and failing to pull image"}.get(reason, reason)
        raise bad(f'container "{container}" in pod "{name}" is waiting to start: {reason}')


def flag(request: web.Request, key: str) -> bool:
    value = request.query.get(key, "false").lower()
    if value not in ("true", "false", "1", "0", ""):
        raise bad(f"invalid value for {key}: {value!r}: must be true or false")
    return value in ("true", "1")


def _int(request: web.Request, key: str, minimum: int) -> int:
    if key not in request.query:
        return 0
    try:
        value = int(request.query[key])
    except ValueError:
        raise bad(f"invalid value for {key}: {request.query[key]!r}: must be an integer") from None
    if value < minimum:
        raise bad(f"PodLogOptions is invalid: {key}: Invalid value: {value}: must be greater "
                   f"than or equal to {minimum}")
    return value


def logs_request(request: web.Request, pod: dict[str, Any], container: str) -> pb.LogsRequest:
    since = _int(request, "sinceSeconds", 1)
    if "sinceTime" in request.query:
        if since:
            raise bad("PodLogOptions is invalid: at most one of `sinceTime` or `sinceSeconds` may be specified")
        try:
            when = dt.datetime.fromisoformat(request.query["sinceTime"].replace("Z", "+00:00"))
        except ValueError:
            raise bad(f"invalid value for sinceTime: {request.query['sinceTime']!r}: must be "
                       "RFC 3339") from None
        if when.tzinfo is None:
            when = when.replace(tzinfo=dt.timezone.utc)
        since = max(1, math.ceil((dt.datetime.now(dt.timezone.utc) - when).total_seconds()))
    tail = _int(request, "tailLines", 0) if "tailLines" in request.query else None
    return pb.LogsRequest(namespace=pod["metadata"].get("namespace", ""), pod=pod["metadata"]["name"],
                          container=container, follow=flag(request, "follow"),
                          previous=flag(request, "previous"), timestamps=flag(request, "timestamps"),
                          tail_lines=tail, since_seconds=since,
                          limit_bytes=_int(request, "limitBytes", 1))


def agent_address(node: dict[str, Any]) -> str:
    status = node.get("status") or {}
    addresses = {a.get("type"): a.get("address") for a in status.get("addresses") or []}
    host = addresses.get("InternalIP") or addresses.get("ExternalIP") or addresses.get("Hostname")
    port = ((status.get("daemonEndpoints") or {}).get("kubeletEndpoint") or {}).get("Port")
    if not host or not port:
        raise errors.ApiError(503, f'node "{node["metadata"]["name"]}" reports no agent endpoint '
                                   "(InternalIP and status.daemonEndpoints.kubeletEndpoint.Port)",
                              "ServiceUnavailable")
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def node_agent(objects: ObjectStore, node_name: str) -> str:
    """The agent address of the Node named `node_name` (404 when there is no such Node)."""
    nodes = registry.lookup("", "v1", "nodes")
    assert nodes is not None
    return agent_address(objects.get(nodes, "", node_name).obj)


class AgentProxy:
    """What the handlers relaying a pod's subresource to its node agent share."""

    def __init__(self, objects: Callable[[], ObjectStore], tls: AgentTls | None = None) -> None:
        self._objects = objects  # read when called: the store opens after the app is built
        self._tls = tls

    def _pod(self, request: web.Request, target: Target,
             methods: tuple[str, ...] = ("GET", "POST")) -> tuple[ObjectStore, dict[str, Any]]:
        """The object store and the pod, for a request with one of `methods`."""
        if request.method not in methods:
            raise errors.method_not_allowed(request.method, target.describe)
        objects = self._objects()
        return objects, objects.get(target.info, target.namespace, target.name).obj


class NodeProxy(AgentProxy):
    """The `node_proxy` the subresource dispatcher calls for pods/log."""

    async def __call__(self, request: web.Request, target: Target) -> web.StreamResponse:
        if target.subresource != "log":
            raise errors.ApiError(503, f"{target.subresource} is not proxied to node agents yet",
                                  "ServiceUnavailable")
        objects, pod = self._pod(request, target, ("GET",))
        container = choose_container(pod, request.query.get("container", ""))
        rpc = logs_request(request, pod, container)
        check_started(pod, container, rpc.previous)
        node_name = (pod.get("spec") or {}).get("nodeName") or ""
        return await self._relay(request, node_agent(objects, node_name), node_name, rpc)

    async def _relay(self, request: web.Request, address: str, node: str,
                     rpc: pb.LogsRequest) -> web.StreamResponse:
        response: web.StreamResponse | None = None
        async with agent_channel(address, node, self._tls) as channel:
            call = node_pb2_grpc.AgentStub(channel).Logs(rpc)
            try:
                metadata = await call.initial_metadata()
                if READY not in tuple(metadata or ()):
                    # The agent refused the request before streaming: answer with its status.
                    raise status_error(await call.code(), await call.details(), address)
                response = web.StreamResponse(headers={"Content-Type": "text/plain"})
                response.enable_chunked_encoding()
                await response.prepare(request)
                watcher = asyncio.create_task(_cancel_when_gone(request, call))
                try:
                    async for chunk in call:
                        await response.write(chunk.data)
                finally:
                    watcher.cancel()
                await response.write_eof()
                return response
            except (grpc.aio.AioRpcError, asyncio.CancelledError, ConnectionError) as exc:
                if response is not None:
                    return response  # already streaming: the body just ends (or nobody reads it)
                if not isinstance(exc, grpc.aio.AioRpcError):
                    raise
                raise status_error(exc.code(), exc.details(), address) from None
            finally:
                call.cancel()  # done, or the client went away


async def _cancel_when_gone(request: web.Request, call: Any) -> None:
    """End a quiet followed stream once its client has disconnected (aiohttp does not cancel
    the handler by default, and a write is the only other way to notice)."""
    while True:
        await asyncio.sleep(DISCONNECT_POLL)
        transport = request.transport
        if transport is None or transport.is_closing():
            call.cancel()
            return


def status_error(code: grpc.StatusCode, details: str | None, address: str) -> errors.ApiError:
    if code == grpc.StatusCode.UNAVAILABLE:
        return errors.ApiError(503, f"cannot reach the node agent at {address}: {details}",
                               "ServiceUnavailable")
    if code == grpc.StatusCode.OK:
        return errors.ApiError(502, "the node agent ended the log stream without answering",
                               "BadGateway")
    return errors.ApiError(_GRPC_TO_HTTP.get(code, 500), details or code.name)
