"""One agent's Session stream: register, then heartbeats and status in, assignments out.

Reads happen in the handler's task; every write goes through one writer task, so the
order on the wire is the order decided here. A protocol violation ends only this stream,
with INVALID_ARGUMENT and a message saying what was wrong; a refused request (status for
a pod bound elsewhere) is answered with an Error message and the stream goes on.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import uuid
from dataclasses import dataclass, field

import grpc

from pyctl_proto import node_pb2 as pb

from ..client import ApiError, NotFound
from ..client.kinds import PODS
from ..machinery import jsonio
from ..machinery.ingress import PROXY_NODE_LABEL
from ..resources.validation import dns1123_subdomain
from . import metrics
from .assignments import AssignmentStream, node_of
from .hub import Hub
from .events import EventKey
from .status import PendingStatus


log = logging.getLogger(__name__)


class ProtocolError(Exception):
    """The agent broke the protocol: the stream ends with INVALID_ARGUMENT."""


@dataclass
class Session:
    gateway: Hub
    context: grpc.aio.ServicerContext
    identity: str = ""
    """The node named by the caller's certificate ("" on an insecure gateway: trust the message)."""
    node: str = ""
    session_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    control: "asyncio.Queue[pb.ServerMessage]" = field(default_factory=asyncio.Queue)
    stream: AssignmentStream | None = None
    network_dirty: bool = True  # send NodeRoutes (first right after Registered)
    routes_sent: pb.NodeRoutes | None = None  # what this agent has: unchanged views are not re-sent
    services_dirty: bool = True  # send the ServiceTable (first right after NodeRoutes)
    volumes_dirty: bool = True  # send NodeVolumes (the local volumes this node keeps)
    ingress_proxy: bool = False  # the agent runs the ingress proxy: it gets the IngressTable
    ingress_dirty: bool = True
    ingress_sent: pb.IngressTable | None = None
    policies_dirty: bool = True  # send the PolicyTable (first right after the ServiceTable)
    policies_sent: pb.PolicyTable | None = None

    async def run(self) -> None:
        writer: asyncio.Task[None] | None = None
        try:
            first = await self.context.read()
            if first is grpc.aio.EOF:
                return
            reg = self._register_message(first)
            if self.identity and reg.node_name != self.identity:
                log.warning("node %s tried to register as %s: refused", self.identity, reg.node_name)
                await self.context.abort(grpc.StatusCode.PERMISSION_DENIED,
                                         f"node {self.identity} may not register as {reg.node_name}: "
                                         "a node certificate speaks for its own node only")
            self.node = reg.node_name
            self.ingress_proxy = reg.labels.get(PROXY_NODE_LABEL) == "true"
            await self.gateway.nodes.register(reg)
            await self.gateway.pods.wait_synced()
            await self.gateway.networks.informer.wait_synced()
            await self.gateway.services.wait_synced()
            if self.ingress_proxy:
                await self.gateway.ingresses.wait_synced()
            await self.gateway.policies.wait_synced()
            self.gateway.adopt(self)
            self.stream = self.gateway.pods.subscribe(self.node)
            self.gateway.networks.subscribe(self.node, self.network_changed)
            self.gateway.services.subscribe(self.node, self.services_changed)
            self.gateway.pods.volumes.subscribe(self.node, self.volumes_changed)
            if self.ingress_proxy:
                self.gateway.ingresses.subscribe(self.node, self.ingress_changed)
            self.gateway.policies.subscribe(self.node, self.policies_changed)
            await self.context.write(pb.ServerMessage(registered=pb.Registered(
                heartbeat_period_ms=int(self.gateway.config.heartbeat_period * 1000),
                session_id=self.session_id,
                metrics_period_ms=int(self.gateway.config.metrics_period * 1000))))
            log.info("node %s registered (session %s)", self.node, self.session_id[:8])
            metrics.REGISTRATIONS.inc()
            writer = asyncio.create_task(self._write_loop(), name=f"gateway-writer-{self.node}")
            while True:
                msg = await self.context.read()
                if msg is grpc.aio.EOF:
                    return
                self._handle(msg)
                if writer.done():  # the peer went away while we were reading
                    return
        except ProtocolError as exc:
            log.warning("node %s: closing its stream: %s", self.node or "?", exc)
            await self.context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        except ApiError as exc:
            await self.context.abort(grpc.StatusCode.UNAVAILABLE, f"the API server refused the "
                                     f"registration of node {self.node}: {exc}")
        finally:
            if writer is not None:
                writer.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await writer
            if self.stream is not None:
                self.gateway.pods.unsubscribe(self.stream)
                self.gateway.networks.unsubscribe(self.node, self.network_changed)
                self.gateway.services.unsubscribe(self.node, self.services_changed)
                self.gateway.pods.volumes.unsubscribe(self.node, self.volumes_changed)
                self.gateway.ingresses.unsubscribe(self.node, self.ingress_changed)
                self.gateway.policies.unsubscribe(self.node, self.policies_changed)
            self.gateway.forget(self)

    # -- incoming ----------------------------------------------------------------------------

    def _register_message(self, msg: pb.AgentMessage) -> pb.Register:
        if msg.WhichOneof("msg") != "register":
            raise ProtocolError(f"the first message on a session must be register, not "
                                f"{msg.WhichOneof('msg') or 'an empty message'}")
        name = msg.register.node_name
        if not name or dns1123_subdomain(name):
            raise ProtocolError(f"register.node_name {name!r} is not a valid node name (a lowercase "
                                "RFC 1123 subdomain)")
        if msg.register.pod_cidr:
            try:
                ipaddress.ip_network(msg.register.pod_cidr)
            except ValueError as exc:
                raise ProtocolError(f"register.pod_cidr: {exc}") from None
        return msg.register

    def _handle(self, msg: pb.AgentMessage) -> None:
        which = msg.WhichOneof("msg")
        metrics.received(which or "empty")
        if which == "heartbeat":
            self.gateway.nodes.heartbeat(self.node)
            self.control.put_nowait(pb.ServerMessage(heartbeat_ack=pb.HeartbeatAck(seq=msg.heartbeat.seq)))
        elif which == "pod_status":
            for i, u in enumerate(msg.pod_status.updates):
                self._status(i, u)
        elif which == "pod_deleted":
            self._deleted(msg.pod_deleted)
        elif which == "events":
            self._events(msg.events)
        elif which == "volumes":
            for work in self.gateway.pods.volumes.report(self.node, msg.volumes):
                self.gateway.spawn(work)
        elif which == "metrics":
            self._usage(msg.metrics)
        elif which == "resync":
            assert self.stream is not None
            self.stream.resync()
        elif which == "register":
            raise ProtocolError("register sent twice on one session")
        else:
            raise ProtocolError("an empty AgentMessage (no field of its oneof is set)")

    def _owned(self, namespace: str, name: str, uid: str, what: str) -> dict | None:
        """The pod if it is bound to this session's node (and is that uid), else an Error sent."""
        pod = self.gateway.pods.get(namespace, name)
        if pod is None or node_of(pod) != self.node or (uid and pod["metadata"].get("uid") != uid):
            self.control.put_nowait(pb.ServerMessage(error=pb.Error(
                message=f"{what} refused: pod {namespace}/{name} (uid {uid or '?'}) is not bound to "
                        f"node {self.node}", namespace=namespace, name=name)))
            return None
        return pod

    def _status(self, i: int, u: pb.PodStatusUpdate) -> None:
        if not u.namespace or not u.name:
            raise ProtocolError(f"pod_status.updates[{i}]: namespace and name are required")
        try:
            status = jsonio.loads(u.status_json)
        except ValueError as exc:
            raise ProtocolError(f"pod_status.updates[{i}].status_json is not JSON: {exc}") from None
        if not isinstance(status, dict):
            raise ProtocolError(f"pod_status.updates[{i}].status_json must be a JSON object (a PodStatus)")
        if self._owned(u.namespace, u.name, u.uid, "status update") is not None:
            self.gateway.statuses.submit(PendingStatus(u.namespace, u.name, u.uid, status))

    def _events(self, batch: pb.EventBatch) -> None:
        """Events about this node's own pods go to the writer; the others are refused (one Error
        per batch: events about a pod deleted meanwhile are common and need no flood of errors)."""
        refused: list[str] = []
        for i, e in enumerate(batch.events):
            if not e.namespace or not e.name or not e.reason:
                raise ProtocolError(f"events.events[{i}]: namespace, name and reason are required")
            if e.type not in ("Normal", "Warning"):
                raise ProtocolError(f"events.events[{i}].type {e.type!r} is neither Normal nor Warning")
            pod = self.gateway.pods.get(e.namespace, e.name)
            if pod is None or node_of(pod) != self.node or (e.uid and pod["metadata"].get("uid") != e.uid):
                refused.append(f"{e.namespace}/{e.name}")
                continue
            key = EventKey(self.node, e.namespace, e.name, pod["metadata"].get("uid", ""), e.field_path,
                           e.type, e.reason, e.message)
            self.gateway.events.submit(key, pod, max(1, e.count), e.time_unix_micro / 1e6)
        if refused:
            self.control.put_nowait(pb.ServerMessage(error=pb.Error(
                message=f"{len(refused)} event(s) refused: pod {refused[0]} is not bound to node {self.node}",
                namespace=refused[0].partition("/")[0], name=refused[0].partition("/")[2])))

    def _usage(self, report: pb.NodeMetrics) -> None:
        """A node's resource usage, of its own pods only: the others are dropped without a word
        (usually pods deleted since the sample; a node speaks for no other node's pods)."""
        own = [p for p in report.pods if (pod := self.gateway.pods.get(p.namespace, p.name)) is not None
               and node_of(pod) == self.node and pod["metadata"].get("uid") == p.uid]
        if len(own) != len(report.pods):
            del report.pods[:]
            report.pods.extend(own)
        report.node = self.node
        self.gateway.usage.submit(report)

    def _deleted(self, d: pb.PodDeleted) -> None:
        pod = self._owned(d.namespace, d.name, d.uid, "deletion confirmation")
        if pod is None or not pod["metadata"].get("deletionTimestamp"):
            return  # not being deleted: nothing to confirm
        self.gateway.spawn(self._confirm(d.namespace, d.name, pod["metadata"]["uid"]))

    async def _confirm(self, namespace: str, name: str, uid: str) -> None:
        # The agent stopped it: finish the graceful deletion, as the kubelet does, once what
        # the agent reported before (its containers terminated, Ready=False) is written.
        try:
            await self.gateway.statuses.settle(namespace, name)
            await self.gateway.client.delete(PODS, name, namespace, grace_period_seconds=0, uid=uid)
        except NotFound:
            pass
        except ApiError as exc:
            log.warning("confirming deletion of pod %s/%s: %s", namespace, name, exc)

    # -- outgoing ----------------------------------------------------------------------------

    def network_changed(self) -> None:
        """A node's podCIDR or address changed: send the (whole, small) NodeRoutes again."""
        self.network_dirty = True
        if self.stream is not None:
            self.stream.wake.set()

    def services_changed(self) -> None:
        """A Service or its Endpoints changed: send the whole ServiceTable again (coalesced)."""
        self.services_dirty = True
        if self.stream is not None:
            self.stream.wake.set()

    def volumes_changed(self) -> None:
        """One of this node's local volumes changed: send the whole (small) NodeVolumes again."""
        self.volumes_dirty = True

    def ingress_changed(self) -> None:
        """An Ingress or what it references changed: send the whole IngressTable again (coalesced)."""
        self.ingress_dirty = True

    def policies_changed(self) -> None:
        """A NetworkPolicy, or what its selectors see, changed: send the PolicyTable again."""
        self.policies_dirty = True
        if self.stream is not None:
            self.stream.wake.set()

    async def _write_loop(self) -> None:
        assert self.stream is not None
        stream = self.stream
        while True:
            while not self.control.empty():
                await self.context.write(self.control.get_nowait())
            if self.network_dirty:  # before assignments: the agent needs its podCIDR to run pods
                self.network_dirty = False
                routes = self.gateway.networks.routes_for(self.node)
                # Most node changes (a hollow node's podCIDR, at 500 nodes) leave this view as it
                # was: re-sending it to every agent on every change cost O(nodes²) messages.
                if routes != self.routes_sent:
                    self.routes_sent = routes
                    await self.context.write(pb.ServerMessage(node_routes=routes))
                continue
            if self.services_dirty:  # before assignments: new pods see the Services in their env
                self.services_dirty = False
                await self.context.write(pb.ServerMessage(services=self.gateway.services.table()))
                continue
            if self.volumes_dirty:  # before assignments: pods mount the volumes it makes
                self.volumes_dirty = False
                await self.context.write(pb.ServerMessage(volumes=self.gateway.pods.volumes.node_volumes(self.node)))
            if self.ingress_dirty and self.ingress_proxy:
                self.ingress_dirty = False
                try:
                    table = self.gateway.ingresses.table()
                except Exception:  # a bug here must not cost the node its session: keep what it has
                    log.exception("node %s: building the ingress table failed", self.node)
                    continue
                if table != self.ingress_sent:  # e.g. an unreferenced Endpoints changed
                    self.ingress_sent = table
                    await self.context.write(pb.ServerMessage(ingress=table))
            if self.policies_dirty:  # before assignments: a new pod is isolated from its start
                self.policies_dirty = False
                table = self.gateway.policies.table()
                if table != self.policies_sent:  # an empty table (no policies) goes once
                    self.policies_sent = table
                    await self.context.write(pb.ServerMessage(policies=table))
                continue
            msg = stream.take()
            if msg is not None:
                await self.context.write(pb.ServerMessage(assignments=msg))
                continue
            stream.wake.clear()
            getter = asyncio.ensure_future(self.control.get())
            waker = asyncio.ensure_future(stream.wake.wait())
            try:
                await asyncio.wait({getter, waker}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                waker.cancel()
                if not getter.done():
                    getter.cancel()
            if getter.done() and not getter.cancelled():
                await self.context.write(getter.result())
