"""The scheduler process: informers feed the Snapshot and the queue; the loop takes a batch of
pending pods, decides each against the Snapshot (pure: framework.schedule), assumes the
placement at once so the next pod in the batch sees it, and binds through the pods/binding
subresource, a pass's bindings sent together in one batch request (client/batch.py). A failed
binding forgets the assumed placement and retries.

Pods that fit nowhere get PodScheduled=False (reason Unschedulable, the kube-style message)
and a FailedScheduling event, written only when the message changes, and the verdict of every
filter on every node in the `scheduler.pyctl.io/placement` annotation, written only when the
verdict changes (verdict.py; replicas of one template share one explanation per state of the
cluster). They are retried when the cluster changes and every 30 s. A binding carries the
scores that chose the node in the same annotation (the API server copies a Binding's
annotations onto the pod, as Kubernetes does). Bindings are 409-safe, so a restarted
scheduler (or a new leader) never double-binds.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any, Coroutine

from ..client import ApiClient, ApiError, Conflict, NotFound
from ..client.batch import BatchWriter
from ..client.shared import SharedInformer
from ..client.kinds import NODES, PODS
from ..client.urls import object_key
from ..events import EventRecorder
from ..machinery import placement
from ..machinery.meta import now_rfc3339
from . import metrics, verdict
from .framework import Decision, Profile, schedule
from .plugins import DEFAULT_PROFILE
from .queue import SchedulingQueue
from .snapshot import TERMINAL, PodInfo, Snapshot
from .volumes import SchedulerVolumes
from ..machinery.types import Obj

log = logging.getLogger(__name__)
MERGE_PATCH = "application/merge-patch+json"
STRATEGIC_PATCH = "application/strategic-merge-patch+json"


@dataclass(frozen=True)
class SchedulerConfig:
    scheduler_name: str = "default-scheduler"
    """Pods whose spec.schedulerName is this are ours."""
    batch_size: int = 256
    """Pods decided per pass of the loop before yielding to the informers."""
    max_in_flight: int = 1024
    """Decided-but-not-bound pods beyond which the loop waits (back-pressure)."""
    initial_backoff: float = 1.0
    """Seconds before the first retry of a pod that failed; doubles per failure."""
    max_backoff: float = 10.0
    """Cap on the per-pod back-off."""
    unschedulable_timeout: float = 30.0
    """Seconds after which an unschedulable pod is retried even if nothing changed."""
    placement_records: bool = True
    """Record each filter's verdict on every node for pods that fit nowhere, and the scores
    that chose the node for bound ones, in the scheduler.pyctl.io/placement annotation."""
    user_agent: str = "pyctl-scheduler"


def _pending(pod: Obj, scheduler_name: str) -> bool:
    spec = pod.get("spec") or {}
    return (not spec.get("nodeName") and not (pod.get("metadata") or {}).get("deletionTimestamp")
            and not spec.get("schedulingGates")  # gated pods wait until every gate is removed
            and (spec.get("schedulerName") or "default-scheduler") == scheduler_name
            and (pod.get("status") or {}).get("phase") not in TERMINAL)


def _scheduled_condition(pod: Obj) -> Obj | None:
    return next((c for c in (pod.get("status") or {}).get("conditions") or []
                 if c.get("type") == "PodScheduled"), None)


def _log_crash(task: "asyncio.Task[None]") -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("scheduler loop died", exc_info=task.exception())


class Scheduler:
    """Start/stop-able (leader election starts it on gaining the lease, stops it on losing it)."""

    def __init__(self, api_url: str, config: SchedulerConfig | None = None, *,
                 profile: Profile = DEFAULT_PROFILE) -> None:
        self.api_url = api_url
        self.config = config or SchedulerConfig()
        self.profile = profile
        self.stats: Counter[str] = Counter()
        self._client: ApiClient | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._loop_task: asyncio.Task[None] | None = None
        self._rng = random.Random()

    # -- lifecycle -----------------------------------------------------------------------

    async def start(self) -> None:
        if self._loop_task is not None:
            return
        cfg = self.config
        # Fresh state on every start: a new leader trusts nothing but the API.
        self.snapshot = Snapshot()
        self.queue = SchedulingQueue(initial_backoff=cfg.initial_backoff, max_backoff=cfg.max_backoff,
                                     unschedulable_timeout=cfg.unschedulable_timeout)
        metrics.watch_queue(self.queue)
        self._binding: set[str] = set()
        self._next_start = 0  # where the next pod's node search begins (big clusters sample)
        self._reported: dict[str, str] = {}  # pod key -> last unschedulable message written
        self._verdicts: dict[str, str] = {}  # pod key -> signature of the last verdict written
        # Explanations of this state of the cluster, by pod template (replicas share one).
        self._explained: dict[tuple[object, ...], dict[str, Any]] = {}
        self._explained_at = -1  # the snapshot generation they explain
        self._progress = asyncio.Event()
        self._client = ApiClient(self.api_url, user_agent=cfg.user_agent)
        self._writes = BatchWriter(self._client)
        self.recorder = EventRecorder(self._client, "default-scheduler", writes=self._writes)
        self.nodes = SharedInformer(self._client, NODES)
        self.pods = SharedInformer(self._client, PODS)
        self.nodes.add_handlers(self._on_node, lambda old, new: self._on_node(new), self._on_node_delete)
        self.pods.add_handlers(lambda p: self._on_pod(None, p), self._on_pod, self._on_pod_delete)
        self.nodes.start()
        self.pods.start()
        self.volumes = SchedulerVolumes(self._client, self.queue.move_all, self._requeue)
        self.snapshot.volumes = self.volumes
        self.volumes.start()
        self._loop_task = asyncio.create_task(self._run(), name="scheduler")
        self._loop_task.add_done_callback(_log_crash)

    async def stop(self) -> None:
        if self._loop_task is None:
            return
        tasks = [self._loop_task, *self._tasks]
        for t in tasks:
            t.cancel()
        for t in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t
        self._tasks.clear()
        self._loop_task = None
        await self._writes.close()
        await self.pods.stop()
        await self.nodes.stop()
        await self.volumes.stop()
        if self._client is not None:
            await self._client.close()
            self._client = None

    @property
    def in_flight(self) -> int:
        """Pods decided and assumed whose binding has not finished."""
        return len(self._binding) if self._loop_task is not None else 0

    async def wait_synced(self, timeout: float | None = None) -> None:
        await self.nodes.wait_synced(timeout)
        await self.pods.wait_synced(timeout)
        await self.volumes.wait_synced(timeout)

    # -- informer handlers: keep the snapshot current and say *which* pods to look at -----

    def _on_node(self, node: Obj) -> None:
        if self.snapshot.set_node(node):
            self.queue.move_all()

    def _on_node_delete(self, node: Obj) -> None:
        self.snapshot.remove_node(node["metadata"]["name"])

    def _on_pod(self, old: Obj | None, pod: Obj) -> None:
        key = object_key(pod)
        spec = pod.get("spec") or {}
        node = spec.get("nodeName")
        if node:
            self.queue.delete(key)
            self._reported.pop(key, None)
            self._verdicts.pop(key, None)
            if (pod.get("status") or {}).get("phase") in TERMINAL:
                if self.snapshot.remove_pod(key) is not None:
                    self.queue.move_all()  # its resources are free again
                return
            placed = self.snapshot.placed(key)
            md = pod.get("metadata") or {}
            if (placed is None or key in self.snapshot.assumed or placed.node_name != node
                    or placed.uid != md.get("uid", "") or placed.labels != (md.get("labels") or {})):
                self.snapshot.add_pod(PodInfo.from_pod(pod, strict=False))
            return
        if not _pending(pod, self.config.scheduler_name):
            self.queue.delete(key)
            return
        # Our own status writes change only status: no reason to try again for them.
        if old is None or old.get("spec") != spec or (old.get("metadata") or {}).get("labels") != \
                (pod.get("metadata") or {}).get("labels"):
            self.queue.add(key, int(spec.get("priority") or 0))

    def _requeue(self, key: str) -> None:
        pod = self.pods.get(key)
        if pod is not None and _pending(pod, self.config.scheduler_name):
            self.queue.add(key, int((pod.get("spec") or {}).get("priority") or 0))

    def _on_pod_delete(self, pod: Obj) -> None:
        key = object_key(pod)
        self.queue.delete(key)
        self._reported.pop(key, None)
        self._verdicts.pop(key, None)
        if self.snapshot.remove_pod(key) is not None:
            self.queue.move_all()

    # -- the loop ------------------------------------------------------------------------

    async def _run(self) -> None:
        await self.wait_synced()
        log.info("scheduler synced: %d nodes, %d pods", len(self.nodes.keys()), len(self.pods.keys()))
        while True:
            while len(self._binding) >= self.config.max_in_flight:
                self._progress.clear()
                await self._progress.wait()
            batch = await self.queue.pop_batch(self.config.batch_size)
            self.schedule_batch(batch)
            await asyncio.sleep(0)  # let informer events in between batches

    def schedule_batch(self, keys: list[str]) -> None:
        """Decide each pod in turn against the snapshot; start its binding or report why not."""
        for key in keys:
            pod = self.pods.get(key)
            if pod is None or not _pending(pod, self.config.scheduler_name):
                self.queue.delete(key)
                continue
            if key in self._binding:
                continue
            started = time.perf_counter()
            try:
                info = PodInfo.from_pod(pod)
                decision = schedule(info, self.snapshot, self.profile, self._rng, self._next_start)
                self._next_start += decision.examined
            except Exception as exc:  # a pod we cannot make sense of must not stop the others
                log.warning("cannot schedule %s: %r", key, exc)
                self.stats["errors"] += 1
                metrics.attempted("error", self.config.scheduler_name, started)
                self._unschedulable(key, pod, f"invalid pod spec: {exc}")
                continue
            if decision.node is None:
                metrics.attempted("unschedulable", self.config.scheduler_name, started)
                self._unschedulable(key, pod, decision.message, info)
                continue
            if not self.volumes.ready_to_bind(pod, key, decision.node, self._spawn):
                self.queue.delete(key)  # its claims get their volumes on the node first; their changes requeue it
                continue
            self.snapshot.assume(info, decision.node)
            self._binding.add(key)
            self._spawn(self._bind(pod, key, decision.node, self._scores(decision), started))

    def _scores(self, decision: Decision) -> dict[str, str] | None:
        """The Binding's annotations: the scores that chose the node."""
        if not self.config.placement_records:
            return None
        return {placement.ANNOTATION: placement.encode(verdict.scheduled(decision, now=now_rfc3339()))}

    def _unschedulable(self, key: str, pod: Obj, message: str, info: PodInfo | None = None) -> None:
        self.stats["unschedulable"] += 1
        self.queue.unschedulable(key)
        record = None
        if info is not None and self.config.placement_records:
            try:
                record = self._explain(info)
            except Exception as exc:  # the explanation is extra: it must never stop scheduling
                log.warning("cannot explain why %s fits nowhere: %r", key, exc)
        if record is not None and not self._verdict_changed(key, pod, record):
            record = None
        if self._needs_report(key, pod, message):
            self._reported[key] = message
        elif record is None:
            return
        else:
            message = ""  # the condition already says it: only the verdict is new
        if record is not None:
            self._verdicts[key] = record["signature"]
            self.stats["verdicts"] += 1
        self.stats["reported"] += 1
        self._spawn(self._report_unschedulable(pod, message, record))

    def _explain(self, info: PodInfo) -> dict[str, Any]:
        """Every filter on every node, once per pod template per state of the cluster: the
        replicas of a Deployment that fits nowhere cost one explanation, not one each."""
        if self._explained_at != self.snapshot.generation:
            self._explained.clear()
            self._explained_at = self.snapshot.generation
        template = info.template_key()
        record = self._explained.get(template)
        if record is None:
            record = self._explained[template] = verdict.explain(info, self.snapshot, self.profile,
                                                                 now=now_rfc3339())
            self.stats["explained"] += 1
        return record

    def _verdict_changed(self, key: str, pod: Obj, record: dict[str, Any]) -> bool:
        written = self._verdicts.get(key)
        if written is None:  # not written by this scheduler: what does the pod say (a restart)?
            current = placement.read(pod)
            written = current.get("signature") if current else None
        return written != record["signature"]

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- I/O at the edge -----------------------------------------------------------------

    async def _bind(self, pod: Obj, key: str, node: str, annotations: dict[str, str] | None = None,
                    started: float = 0.0) -> None:
        md = pod["metadata"]
        ns, name = md.get("namespace") or "default", md["name"]
        body: Obj = {"apiVersion": "v1", "kind": "Binding", "metadata": {"name": name, "uid": md.get("uid", "")},
                     "target": {"apiVersion": "v1", "kind": "Node", "name": node}}
        if annotations:
            body["metadata"]["annotations"] = annotations
        # The Event's time is the binding's, not its answer's: the node may have the pod, and
        # report Created/Started, before this answer comes back.
        sent = time.time()
        try:
            # Batched with the other bindings of this pass: one request, few etcd transactions.
            await self._writes.write("POST", PODS, ns, name, "binding", body=body)
        except (Conflict, NotFound) as exc:
            # Bound by someone else (an earlier leader, us before a restart) or gone: the
            # informer will tell us where it really is.
            log.debug("binding %s to %s: %s", key, node, exc)
            self.snapshot.forget(key)
            self.queue.delete(key)
            self.stats["bind_conflicts"] += 1
            return
        except ApiError as exc:
            log.warning("binding %s to %s failed: %s", key, node, exc)
            self.snapshot.forget(key)
            self.queue.retry(key)
            self.stats["bind_errors"] += 1
            metrics.attempted("error", self.config.scheduler_name, started)
            return
        finally:
            self._binding.discard(key)
            self._progress.set()
        self.stats["scheduled"] += 1
        metrics.attempted("scheduled", self.config.scheduler_name, started)
        self.queue.delete(key)
        await self.recorder.event(pod, "Normal", "Scheduled", f"Successfully assigned {ns}/{name} to {node}",
                                  at=sent)

    def _needs_report(self, key: str, pod: Obj, message: str) -> bool:
        if self._reported.get(key) == message:
            return False
        cond = _scheduled_condition(pod)
        # Already says so (e.g. written before a restart): nothing new to tell.
        return not (cond and cond.get("status") == "False" and cond.get("reason") == "Unschedulable"
                    and cond.get("message") == message)

    async def _report_unschedulable(self, pod: Obj, message: str, record: dict[str, Any] | None) -> None:
        """The verdict (if new) in the annotation, then the condition and event (if the
        message is new): a reader who sees the new condition finds the verdict beside it."""
        md = pod["metadata"]
        ns, key = md.get("namespace") or "default", object_key(pod)
        if record is not None:
            # A merge patch of one annotation on the pod: it never conflicts, and it carries
            # only this pod's verdict (bounded by verdict.MAX_BYTES).
            try:
                await self._writes.write("PATCH", PODS, ns, md["name"], content_type=MERGE_PATCH, body={
                    "metadata": {"annotations": {placement.ANNOTATION: placement.encode(record)}}})
            except NotFound:
                return
            except ApiError as exc:
                log.warning("recording why %s fits nowhere: %s", md["name"], exc)
                self._verdicts.pop(key, None)
        if not message:
            return
        condition = {"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
                     "message": message, "lastProbeTime": None, "lastTransitionTime": now_rfc3339()}
        try:
            await self._writes.write("PATCH", PODS, ns, md["name"], "status", content_type=STRATEGIC_PATCH,
                                     body={"status": {"conditions": [condition]}})
        except NotFound:
            return
        except ApiError as exc:
            log.warning("recording %s unschedulable: %s", md["name"], exc)
            self._reported.pop(key, None)  # try again next time
        await self.recorder.event(pod, "Warning", "FailedScheduling", message)


async def run_scheduler(api_url: str, *, stop: asyncio.Event | None = None,
                        config: SchedulerConfig | None = None, profile: Profile = DEFAULT_PROFILE) -> None:
    """Run a scheduler against the API server at api_url until `stop` is set (or cancelled)."""
    scheduler = Scheduler(api_url, config, profile=profile)
    await scheduler.start()
    try:
        await (stop or asyncio.Event()).wait()
    finally:
        await scheduler.stop()
