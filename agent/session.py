"""The agent's stream to the control plane (SwarmKit's agent/session.go, for pods).

One `AgentSession` keeps one NodeService.Session call alive: register, heartbeat at the
period the server asks for, apply assignments (COMPLETE, then INCREMENTAL chained by
seq; a gap asks for a Resync), send what the pod workers queued. When the stream breaks
(or the server stops answering heartbeats) it reconnects with jittered exponential
back-off, and re-sends the latest status of every pod once registered again. Pods keep
running meanwhile: the session is not in their path.

The pod network arrives as `NodeRoutes` (this node's podCIDR, the cluster CIDR, the other
nodes' routes), first right after Registered and again on every change; `on_network` gets
each one. An agent that must learn its podCIDR (`needs_pod_cidr`) applies no assignment
until it has one: what came before is dropped and a COMPLETE snapshot asked for again.
The Services arrive the same way, as a complete `ServiceTable` on every change (`on_services`),
and so do the node's local volumes (`NodeVolumes`, `on_volumes`), whose reports go out with the
next batch (`queue_message`), and the NetworkPolicies, as a `PolicyTable` (`on_policies`).

With node credentials (a joined node, see credentials.py) the stream is mutual TLS; after a
renewal `reconnect()` ends it so that the next one presents the new certificate.

With a `usage` reporter, the node's resource usage goes out every metrics period the server
asks for in Registered (NodeMetrics; see usage.py); the server keeps only the latest.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import time
from dataclasses import dataclass
from typing import Any, Callable

import grpc

from pyctl_proto import node_pb2 as pb
from pyctl_proto import node_pb2_grpc

from .credentials import NodeCredentials, gateway_channel
from .nodeinfo import NodeRegistration
from .podconfig import objects_from
from .pods import PodManager, parse_pod
from .usage import UsageReporter
from .wake import woken

log = logging.getLogger(__name__)

MAX_BATCH = 200  # pod statuses per message


@dataclass(frozen=True)
class SessionConfig:
    backoff_base: float = 0.2
    """First reconnect delay in seconds; doubles per failure, with jitter."""
    backoff_max: float = 10.0
    """Longest reconnect delay."""
    missed_heartbeats: int = 3
    """Reconnect when nothing arrived for this many heartbeat periods."""


class SessionError(Exception):
    pass


class AgentSession:
    def __init__(self, server: str, registration: NodeRegistration, pods: PodManager,
                 config: SessionConfig | None = None, *, pod_cidr: str = "", needs_pod_cidr: bool = False,
                 on_network: Callable[[pb.NodeRoutes], None] | None = None,
                 on_services: Callable[[pb.ServiceTable], None] | None = None,
                 on_volumes: Callable[[pb.NodeVolumes], None] | None = None,
                 on_ingress: Callable[[pb.IngressTable], None] | None = None,
                 on_policies: Callable[[pb.PolicyTable], None] | None = None,
                 credentials: NodeCredentials | None = None, usage: UsageReporter | None = None) -> None:
        """`credentials`: dial with mutual TLS as the node they name (None: insecure).
        `usage`: where resource usage reports come from (None: send none)."""
        self.server = server
        self.credentials = credentials
        self.registration = registration
        self.pods = pods
        self.config = config or SessionConfig()
        self.connected = asyncio.Event()
        self.session_id = ""
        self.sessions = 0       # how many times registered (reconnects + 1)
        self.last_seq = 0
        self.resyncs = 0        # gaps seen
        self.pod_cidr = pod_cidr  # the agent's own --pod-cidr, recorded on its Node at registration
        self.needs_pod_cidr = needs_pod_cidr and not pod_cidr
        self.on_network = on_network
        self.network: pb.NodeRoutes | None = None  # the latest NodeRoutes
        self.on_services = on_services
        self.services: pb.ServiceTable | None = None  # the latest ServiceTable (complete each time)
        self.on_volumes = on_volumes  # each NodeVolumes (this node's local volumes, complete each time)
        self.outgoing: list[pb.AgentMessage] = []  # sent with the next batch (volume reports)
        self.on_ingress = on_ingress
        self.ingress: pb.IngressTable | None = None  # the latest IngressTable (only to ingress proxy nodes)
        self.on_policies = on_policies
        self.pod_cidr_known = asyncio.Event()
        self.waiting_for_pod_cidr = False  # assignments came and were dropped: no podCIDR yet
        self.usage = usage
        self._metrics: pb.NodeMetrics | None = None  # the latest usage report, not yet sent

    async def run(self) -> None:
        failures = 0
        while True:
            started = time.monotonic()
            try:
                await self._run_once()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # grpc.aio.AioRpcError, SessionError, ...
                log.info("node %s: session ended: %s", self.registration.node_name, _describe(exc))
            finally:
                self.connected.clear()
            failures = 1 if time.monotonic() - started > 30 else failures + 1
            delay = min(self.config.backoff_max, self.config.backoff_base * 2 ** (failures - 1))
            await asyncio.sleep(delay * random.uniform(0.5, 1.0))  # jitter: no thundering herd

    async def _run_once(self) -> None:
        options = [("grpc.max_receive_message_length", 64 * 1024 * 1024), ("grpc.enable_retries", 0)]
        self._reconnect = False
        # Credentials read at each connection: a renewed certificate is used from the next one.
        channel = gateway_channel(self.server, self.credentials, options)
        async with channel:
            call = node_pb2_grpc.NodeServiceStub(channel).Session()
            register = self.registration.to_proto()
            register.pod_cidr = self.pod_cidr
            await call.write(pb.AgentMessage(register=register))
            first = await call.read()
            if first is grpc.aio.EOF or first.WhichOneof("msg") != "registered":
                raise SessionError(f"expected registered, got {first}")
            period = max(first.registered.heartbeat_period_ms, 50) / 1000
            self.session_id = first.registered.session_id
            self.sessions += 1
            self.last_seq = 0
            self.pods.resend_all()
            self.connected.set()
            log.info("node %s: registered with %s (session %s)", self.registration.node_name,
                     self.server, self.session_id[:8])
            self._last_heard = time.monotonic()
            reader = asyncio.create_task(self._read_loop(call))
            writer = asyncio.create_task(self._write_loop(call, period))
            loops = {reader, writer}
            if self.usage is not None and first.registered.metrics_period_ms:
                loops.add(asyncio.create_task(self._sample_loop(first.registered.metrics_period_ms / 1000)))
            try:
                done, _ = await asyncio.wait(loops, return_when=asyncio.FIRST_COMPLETED)
                for t in done:
                    t.result()
            finally:
                for t in loops:
                    t.cancel()
                    with contextlib.suppress(asyncio.CancelledError, Exception):
                        await t
                call.cancel()

    # -- incoming ------------------------------------------------------------------------------

    async def _read_loop(self, call) -> None:
        while True:
            msg = await call.read()
            if msg is grpc.aio.EOF:
                raise SessionError("the server closed the stream")
            self._last_heard = time.monotonic()
            which = msg.WhichOneof("msg")
            if which == "assignments":
                self._assignments(msg.assignments)
            elif which == "node_routes":
                self._network(msg.node_routes)
            elif which == "services":
                self._services(msg.services)
            elif which == "volumes":
                self._deliver(self.on_volumes, msg.volumes, "local volumes")
            elif which == "ingress":
                self.ingress = msg.ingress
                self._deliver(self.on_ingress, msg.ingress, "ingress table")
            elif which == "policies":
                self._deliver(self.on_policies, msg.policies, "network policy table")
            elif which == "error":
                log.warning("node %s: server refused: %s", self.registration.node_name, msg.error.message)

    def _deliver(self, consumer: Callable[[Any], None] | None, m: Any, what: str) -> None:
        if consumer is not None:
            try:
                consumer(m)
            except Exception:  # a broken consumer must not end the session
                log.exception("node %s: applying the %s failed", self.registration.node_name, what)

    def _services(self, m: pb.ServiceTable) -> None:
        self.services = m
        self._deliver(self.on_services, m, "service table")

    def _network(self, m: pb.NodeRoutes) -> None:
        self.network = m
        self._deliver(self.on_network, m, "pod network")
        if m.pod_cidr and not self.pod_cidr_known.is_set():
            log.info("node %s: podCIDR %s", self.registration.node_name, m.pod_cidr)
            self.pod_cidr_known.set()
            if self.waiting_for_pod_cidr:  # what we dropped is needed now: ask for the whole set again
                self.waiting_for_pod_cidr = False
                self._resync = True
                self.last_seq = -1  # increments until that snapshot do not apply (see the gap check)
                self.pods.outbox.wake.set()

    def _assignments(self, a: pb.Assignments) -> None:
        if self.needs_pod_cidr and not self.pod_cidr_known.is_set():
            if not self.waiting_for_pod_cidr:
                log.info("node %s: waiting for a podCIDR from the control plane before running pods",
                         self.registration.node_name)
            self.waiting_for_pod_cidr = True
            return
        if a.type == pb.Assignments.COMPLETE:
            self.pods.apply_complete([self._pod(c) for c in a.changes])
            self.last_seq = a.seq
            return
        if a.prev_seq != self.last_seq or self.last_seq == 0:
            # A gap: what we hold can no longer be trusted. Ask for a snapshot and ignore
            # increments until it comes (their seq will not chain to ours).
            if self.last_seq != -1:
                log.warning("node %s: assignment gap (have %d, got prev %d); resyncing",
                            self.registration.node_name, self.last_seq, a.prev_seq)
                self.resyncs += 1
                self._resync = True
                self.pods.outbox.wake.set()
                self.last_seq = -1
            return
        for c in a.changes:
            pod = self._pod(c)
            if c.action == pb.PodAssignment.REMOVE:
                self.pods.remove(pod)
            else:
                self.pods.upsert(pod)
        self.last_seq = a.seq

    def _pod(self, c: pb.PodAssignment) -> dict:
        """The assigned pod; the Secrets/ConfigMaps that came with it go to the pod manager."""
        pod = parse_pod(c.pod_json)
        if c.action == pb.PodAssignment.UPSERT:
            self.pods.set_config(pod, objects_from(c))
            self.pods.set_claims(pod, list(c.claim_volumes))
        return pod

    # -- outgoing ------------------------------------------------------------------------------

    async def _sample_loop(self, period: float) -> None:
        """A usage report every period, handed to the writer (the stream's one writer)."""
        assert self.usage is not None
        while True:
            try:
                report = await self.usage.sample()
            except Exception:  # no metrics this time; pods and the session carry on
                log.exception("node %s: sampling resource usage failed", self.registration.node_name)
                report = None
            if report is not None:
                self._metrics = report
                self.pods.outbox.wake.set()
            await asyncio.sleep(period)

    _resync = False
    _reconnect = False
    _last_heard = 0.0

    def queue_message(self, msg: pb.AgentMessage) -> None:
        """Send `msg` with the next batch (dropped if the stream breaks first: what it answers
        is asked again after the reconnect)."""
        self.outgoing.append(msg)
        self.pods.outbox.wake.set()

    def reconnect(self) -> None:
        """End the current stream (if any) so the next one presents the renewed certificate."""
        self._reconnect = True
        self.pods.outbox.wake.set()

    async def _write_loop(self, call, period: float) -> None:
        outbox = self.pods.outbox
        hb_seq = 0
        next_beat = time.monotonic()
        while True:
            now = time.monotonic()
            if self._reconnect:
                raise SessionError("reconnecting with the renewed node certificate")
            if now - self._last_heard > period * self.config.missed_heartbeats:
                raise SessionError(f"no message from the server for {now - self._last_heard:.1f}s")
            if now >= next_beat:
                hb_seq += 1
                await call.write(pb.AgentMessage(heartbeat=pb.Heartbeat(seq=hb_seq)))
                next_beat = now + period
            if self._resync:
                self._resync = False
                await call.write(pb.AgentMessage(resync=pb.Resync(last_seq=max(self.last_seq, 0))))
            outbox.wake.clear()
            statuses, deleted = outbox.take()
            events = self.pods.events.take()
            items = list(statuses.items())
            try:
                for i in range(0, len(items), MAX_BATCH):
                    await call.write(pb.AgentMessage(pod_status=pb.PodStatusBatch(updates=[
                        pb.PodStatusUpdate(namespace=r.namespace, name=r.name, uid=r.uid,
                                           status_json=json.dumps(s, separators=(",", ":")))
                        for r, s in items[i:i + MAX_BATCH]])))
                # Events before deletions: once a deletion is confirmed, events about the pod are refused.
                for i in range(0, len(events), MAX_BATCH):
                    await call.write(pb.AgentMessage(events=pb.EventBatch(events=[
                        pb.NodeEvent(namespace=e.involved.namespace, name=e.involved.name, uid=e.involved.uid,
                                     field_path=e.involved.field_path, type=e.type, reason=e.reason,
                                     message=e.message, count=e.count, time_unix_micro=int(e.at * 1e6))
                        for e in events[i:i + MAX_BATCH]])))
                for r in deleted:
                    await call.write(pb.AgentMessage(pod_deleted=pb.PodDeleted(
                        namespace=r.namespace, name=r.name, uid=r.uid)))
                while self.outgoing:
                    await call.write(self.outgoing.pop(0))
                report, self._metrics = self._metrics, None
                if report is not None:  # lost with a broken stream: the next one comes a period later
                    await call.write(pb.AgentMessage(metrics=report))
            except BaseException:
                for r, s in statuses.items():  # not sent: keep them for the next session
                    outbox.statuses.setdefault(r, s)
                self.pods.events.restore(events)  # bounded: the oldest go first if it is full
                raise
            await woken(outbox.wake, next_beat - time.monotonic())


def _describe(exc: BaseException) -> str:
    if isinstance(exc, grpc.aio.AioRpcError):
        return f"{exc.code().name}: {exc.details()}"
    return str(exc) or type(exc).__name__
