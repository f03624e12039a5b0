"""The per-pod sync loops: desired (the assignments) against observed (the runtime).

`PodManager` holds the desired set, applies COMPLETE / INCREMENTAL assignment messages and
owns one `PodWorker` task per pod. A worker is level-triggered: woken by a change or
periodically, it re-reads the desired pod and the runtime's view and does the next step:
start the pod, restart an exited container when restartPolicy says so (with exponential
back-off: CrashLoopBackOff), kill a container whose liveness or startup probe failed (the
restart path then starts it again), or, for a pod being deleted, stop it and confirm. Probe
results (`probes.PodProbes`) wake the worker and set readiness. Status is
reported only when it changes; `Outbox` coalesces reports per pod until the session sends.
What a worker does is also reported as Events (events.py): Created/Started for each new
container run it observes, Failed for a run that could not start, BackOff, Killing, and
Unhealthy for failed probe checks; image pulls report theirs through the worker's scope.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import dataclass, field
from typing import Any, Protocol

from . import metrics
from .lookup import Objects
from .podconfig import PodConfigStore
from . import events as ev
from .probes import PodProbes
from .runtime.base import ContainerState, Pod, Runtime, RuntimePod
from .status import Status, never_started, pod_status, should_restart
from .volumes.claims import ClaimMounts
from .wake import woken

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PodRef:
    namespace: str
    name: str
    uid: str

    @staticmethod
    def of(pod: Pod) -> "PodRef":
        md = pod["metadata"]
        return PodRef(md.get("namespace", "default"), md["name"], md["uid"])


@dataclass
class Outbox:
    """What the session must send next; reports for one pod replace each other."""

    statuses: dict[PodRef, Status] = field(default_factory=dict)
    deleted: dict[PodRef, None] = field(default_factory=dict)
    wake: asyncio.Event = field(default_factory=asyncio.Event)

    def status(self, ref: PodRef, status: Status) -> None:
        self.statuses[ref] = status
        self.wake.set()

    def confirm_deleted(self, ref: PodRef) -> None:
        self.deleted[ref] = None
        self.wake.set()

    def take(self) -> tuple[dict[PodRef, Status], list[PodRef]]:
        statuses, deleted = self.statuses, list(self.deleted)
        self.statuses, self.deleted = {}, {}
        return statuses, deleted


@dataclass(frozen=True)
class PodTimings:
    resync_period: float = 10.0
    """Seconds between unprompted re-checks of each pod (notices container exits)."""
    backoff_base: float = 10.0
    """First restart delay of a crashing container; doubles per restart."""
    backoff_max: float = 300.0
    """Longest restart delay."""


class WorkerHost(Protocol):
    """What a pod worker needs of the node's pod manager, and all it may touch there."""

    runtime: Runtime
    timings: PodTimings
    host_ip: str
    events: ev.EventSink

    def pod(self, uid: str) -> Pod | None: ...
    async def prepare_volumes(self, pod: Pod) -> str: ...
    def report(self, ref: PodRef, status: Status) -> None: ...
    def confirm_deleted(self, ref: PodRef) -> None: ...
    def finished(self, ref: PodRef) -> None: ...


Next = tuple[bool, float]
"""What a sync step returns: (the worker is finished, seconds until the next check)."""


class PodWorker:
    """One pod's level-triggered loop. Each `sync` looks at the desired pod and the runtime and
    takes the one path that applies: the pod is gone, it is being deleted, or it should run."""

    def __init__(self, host: WorkerHost, ref: PodRef) -> None:
        self.host, self.ref = host, ref
        self.wake = asyncio.Event()
        self.reported: Status | None = None
        self.restart_at: dict[str, float] = {}   # container -> monotonic time of the next start
        self.backoff: dict[str, float] = {}      # container -> current delay
        self.last_pod: Pod | None = None
        self.involved = ev.Involved(ref.namespace, ref.name, ref.uid)
        self.probes = PodProbes(host.runtime, ref.uid, self.wake.set, on_failure=self._unhealthy)
        # The run each container was last reported for (id, start time): each event once per run.
        self.started_runs: dict[str, tuple[str, str]] = {}
        self.failed_runs: dict[str, tuple[str, str]] = {}
        self.seen_runtime = False  # runs found on the first look were started before us (adopted)
        self.seen_at: float | None = time.monotonic()  # until it first runs (pod start latency)
        self.stopping = False
        self.task = asyncio.create_task(self._loop(), name=f"pod-{ref.namespace}/{ref.name}")

    def retry_now(self) -> None:
        """Forget the back-off: what was missing (a Secret, a ConfigMap) may be there now."""
        self.restart_at.clear()
        self.backoff.clear()

    async def _loop(self) -> None:
        delay = 0.0
        while True:
            await woken(self.wake, delay)
            self.wake.clear()
            try:
                with ev.scope(self.host.events, self.involved):  # image pulls report about this pod
                    done, delay = await self.sync()
            except Exception:  # a runtime failure: try again later, never kill the loop
                log.exception("pod %s/%s: sync failed", self.ref.namespace, self.ref.name)
                done, delay = False, min(self.host.timings.resync_period, 5.0)
            if done:
                self.probes.stop()
                return

    async def sync(self) -> Next:
        """One reconciliation step."""
        pod = self.host.pod(self.ref.uid)
        if pod is None:
            return await self._gone()
        self.last_pod = pod
        if pod["metadata"].get("deletionTimestamp"):
            return await self._terminate(pod)
        return await self._run(pod)

    # -- the three paths ---------------------------------------------------------------------

    async def _gone(self) -> Next:
        """No longer assigned (deleted without us, or moved): stop it and end the worker."""
        await self.host.runtime.stop_pod(self.ref.uid, _grace(self.last_pod) if self.last_pod else 0)
        self.host.finished(self.ref)
        return True, 0.0

    async def _terminate(self, pod: Pod) -> Next:
        """As the kubelet: stop the containers, report them terminated (Ready=False, a terminal
        phase), and only then confirm, so that watchers see the pod stop before it goes. The
        outbox sends statuses before confirmations; the gateway writes a pod's status before it
        finishes the deletion. Confirmed again each resync, until the removal arrives."""
        rt = self.host.runtime
        self.probes.stop()
        if not self.stopping:
            self.stopping = True
            for c in (await rt.pod_status(self.ref.uid) or _NOTHING).containers:
                if c.state == "running":
                    self.host.events.normal(self.involved.container(c.name), "Killing",
                                            f"Stopping container {c.name}")
        await rt.stop_containers(self.ref.uid, _grace(pod))
        observed = await rt.pod_status(self.ref.uid)
        if observed is not None:  # (None: removed by an earlier pass, already reported)
            self._report(pod_status(pod, observed, self.host.host_ip, previous=self.reported,
                                    terminating=True))
        await rt.stop_pod(self.ref.uid, 0)
        self.host.confirm_deleted(self.ref)
        return False, self.host.timings.resync_period

    async def _run(self, pod: Pod) -> Next:
        """Start it, restart what exited when its policy says so, kill what failed a probe,
        report."""
        rt = self.host.runtime
        observed = await rt.pod_status(self.ref.uid)
        if not self.seen_runtime:
            self.seen_runtime = True
            self._runs_seen(observed, report=False)
            self.seen_at = None if observed is not None else self.seen_at  # adopted: not started by us
        final = (self.reported or {}).get("phase") in ("Succeeded", "Failed")
        if observed is None and not final:
            problem = await self.host.prepare_volumes(pod)
            if problem:  # as the kubelet: FailedMount, and the pod waits in ContainerCreating
                self.host.events.warning(self.involved, "FailedMount", problem)
                self._report(pod_status(pod, None, self.host.host_ip, previous=self.reported))
                return False, self.host.timings.resync_period
            observed = await rt.start_pod(pod)
        next_check = await self._restart_exited(pod, observed)
        if next_check == 0.0:
            observed = await rt.pod_status(self.ref.uid)
            next_check = self.host.timings.resync_period
        unhealthy = self.probes.update(pod, observed)
        if unhealthy:
            observed = await self._kill_unhealthy(pod, unhealthy)
            next_check = 0.0
        self._runs_seen(observed)
        if self.seen_at is not None and observed and all(c.state == "running" for c in observed.containers):
            metrics.POD_START.observe(time.monotonic() - self.seen_at)
            self.seen_at = None
        self._report(pod_status(pod, observed, self.host.host_ip, backing_off=set(self.restart_at),
                                previous=self.reported))
        return False, next_check

    # -- steps of a running pod --------------------------------------------------------------

    async def _restart_exited(self, pod: Pod, observed: RuntimePod | None) -> float:
        """Restart exited containers that are due (restartPolicy, exponential back-off); returns
        when to look next (0: something was restarted, look again now)."""
        timings, now = self.host.timings, time.monotonic()
        next_check = timings.resync_period
        policy = (pod.get("spec") or {}).get("restartPolicy", "Always")
        for c in observed.containers if observed else []:
            # A container that never started is retried whatever the policy, as the kubelet
            # retries image pulls and container configuration.
            if c.state != "exited" or not (never_started(c) or should_restart(policy, c.exit_code)):
                continue
            due = self.restart_at.get(c.name)
            if due is None:
                delay = self.backoff.get(c.name, 0.0)
                self.backoff[c.name] = min(timings.backoff_max, max(timings.backoff_base, delay * 2))
                due = self.restart_at[c.name] = now + delay
                if delay > 0:
                    self._backing_off(c)
            if now >= due:
                await self.host.runtime.restart_container(self.ref.uid, c.name)
                self.restart_at.pop(c.name, None)
                next_check = 0.0
            else:
                next_check = min(next_check, due - now)
        return next_check

    async def _kill_unhealthy(self, pod: Pod, unhealthy: list[str]) -> RuntimePod | None:
        """As the kubelet: a failed liveness/startup probe kills the container; the next sync
        restarts it (restartPolicy, back-off) like any other exit."""
        rt = self.host.runtime
        for name in unhealthy:
            log.info("pod %s/%s container %s failed its liveness/startup probe, killing it",
                     self.ref.namespace, self.ref.name, name)
            kind = self.probes.failed.pop(name, "liveness")
            self.host.events.normal(self.involved.container(name), "Killing",
                                    f"Container {name} failed {kind} probe, will be restarted")
            await rt.stop_container(self.ref.uid, name, _probe_grace(pod, name))
        observed = await rt.pod_status(self.ref.uid)
        self.probes.update(pod, observed)
        return observed

    def _report(self, status: Status) -> None:
        """Queue the status for the session, when it differs from the last one queued."""
        if status != self.reported:
            self.reported = status
            self.host.report(self.ref, status)

    # -- events ----------------------------------------------------------------------------------

    def _runs_seen(self, observed: RuntimePod | None, report: bool = True) -> None:
        """Created/Started for each container run not seen before; Failed for a run that could
        not start (an image that could not be pulled, a configuration that cannot be run)."""
        events = self.host.events
        for c in observed.containers if observed else []:
            who = self.involved.container(c.name)
            if c.state == "exited" and (never_started(c) or c.reason == "StartError"):
                mark = (c.container_id, c.finished_at)
                if report and self.failed_runs.get(c.name) != mark:
                    message = "Error: ErrImagePull" if c.reason == "ErrImagePull" else \
                        f"Error: {c.message or c.reason}"
                    events.warning(who, "Failed", message)
                self.failed_runs[c.name] = mark
            elif c.state != "waiting" and c.container_id:
                mark = (c.container_id, c.started_at)
                if report and self.started_runs.get(c.name) != mark:
                    events.normal(who, "Created", f"Created container {c.name}")
                    events.normal(who, "Started", f"Started container {c.name}")
                self.started_runs[c.name] = mark

    def _backing_off(self, c: ContainerState) -> None:
        who = self.involved.container(c.name)
        if c.reason == "ErrImagePull":
            self.host.events.normal(who, "BackOff", f'Back-off pulling image "{c.image}"')
        elif not never_started(c):
            self.host.events.warning(who, "BackOff", f"Back-off restarting failed container {c.name} in pod "
                                                     f"{self.ref.name}_{self.ref.namespace}({self.ref.uid})")

    def _unhealthy(self, container: str, kind: str, why: str) -> None:
        self.host.events.warning(self.involved.container(container), "Unhealthy",
                                 f"{kind.capitalize()} probe failed: {why}")


class PodManager:
    """The node's pods: the desired set from the assignments, one worker per pod, the outbox."""

    def __init__(self, runtime: Runtime, host_ip: str, timings: PodTimings | None = None) -> None:
        self.runtime = runtime
        self.host_ip = host_ip
        self.timings = timings or PodTimings()
        self.desired: dict[str, Pod] = {}
        self.workers: dict[str, PodWorker] = {}
        self.outbox = Outbox()
        self.events = ev.EventSink(wake=self.outbox.wake.set)
        # Referenced Secrets/ConfigMaps, in memory; a runtime that resolves env and config
        # volumes declares `config_source` and reads them from here.
        self.configs = PodConfigStore(host_ip)
        if hasattr(runtime, "config_source"):
            runtime.config_source = self.configs
        # Their PersistentVolumeClaim volumes (volumes/claims.py); the agent gives it its local volumes.
        self.claims = ClaimMounts()
        if hasattr(runtime, "volume_source"):
            runtime.volume_source = self.claims

    # -- what workers ask (WorkerHost) --------------------------------------------------------------

    def pod(self, uid: str) -> Pod | None:
        """The pod as assigned now; None once it is no longer this node's."""
        return self.desired.get(uid)

    async def prepare_volumes(self, pod: Pod) -> str:
        """Why the pod's volumes cannot be mounted yet ("" when they can; fsGroup applied)."""
        if not self.claims.involved(pod):  # most pods: nothing to look at, so no thread
            return ""
        return await asyncio.to_thread(self.claims.prepare, pod)

    def report(self, ref: PodRef, status: Status) -> None:
        self.outbox.status(ref, status)

    def confirm_deleted(self, ref: PodRef) -> None:
        self.outbox.confirm_deleted(ref)

    def finished(self, ref: PodRef) -> None:
        """A worker ended: its pod is gone from the API, so unsent reports would be refused."""
        self.workers.pop(ref.uid, None)
        self.claims.forget(ref.uid)  # stopped: its volumes are free (a DELETE may take them now)
        self.outbox.statuses.pop(ref, None)
        self.outbox.deleted.pop(ref, None)

    # -- assignments ---------------------------------------------------------------------------

    def apply_complete(self, pods: list[Pod]) -> None:
        self.desired = {p["metadata"]["uid"]: p for p in pods}
        self.configs.retain(self.desired)
        self.claims.retain(set(self.desired) | set(self.workers))  # a pod still stopping keeps its volumes
        for uid in list(self.workers):
            if uid not in self.desired:
                self.workers[uid].wake.set()
        for pod in pods:
            self._poke(pod)
        asyncio.get_running_loop().create_task(self._stop_orphans())

    def upsert(self, pod: Pod) -> None:
        self.desired[pod["metadata"]["uid"]] = pod
        self._poke(pod)

    def set_config(self, pod: Pod, objects: Objects) -> None:
        """The referenced objects that came with an assignment of `pod` (before upsert). A change
        retries at once a container waiting on a missing one (CreateContainerConfigError)."""
        if self.configs.set(pod, objects):
            worker = self.workers.get(pod["metadata"]["uid"])
            if worker is not None:
                worker.retry_now()

    def set_claims(self, pod: Pod, claims: list[Any]) -> None:
        """The claim volumes that came with an assignment of `pod` (before upsert, as set_config)."""
        if self.claims.record(pod, claims):
            worker = self.workers.get(pod["metadata"]["uid"])
            if worker is not None:
                worker.wake.set()

    def volumes_changed(self) -> None:
        """Local volumes were made: pods waiting to mount one look again."""
        for worker in self.workers.values():
            worker.wake.set()

    def remove(self, pod: Pod) -> None:
        uid = pod["metadata"]["uid"]
        self.desired.pop(uid, None)
        self.configs.forget(uid)
        worker = self.workers.get(uid)
        if worker is not None:
            worker.wake.set()

    def _poke(self, pod: Pod) -> None:
        uid = pod["metadata"]["uid"]
        worker = self.workers.get(uid)
        if worker is None:
            worker = self.workers[uid] = PodWorker(self, PodRef.of(pod))
        worker.wake.set()

    async def _stop_orphans(self) -> None:
        """Pods the runtime runs that no assignment names any more (e.g. deleted while we were away)."""
        for rp in await self.runtime.list_pods():
            if rp.uid not in self.desired and rp.uid not in self.workers:
                log.info("stopping orphaned pod %s/%s", rp.namespace, rp.name)
                await self.runtime.stop_pod(rp.uid, 0)

    # -- session support -----------------------------------------------------------------------

    def resend_all(self) -> None:
        """After a reconnect the server may have missed reports: queue the latest of each pod."""
        for w in self.workers.values():
            if w.reported is not None:
                self.outbox.status(w.ref, w.reported)

    async def stop(self) -> None:
        """Stop the sync loops (not the pods: they keep running without the agent)."""
        tasks = [w.task for w in self.workers.values()]
        for w in self.workers.values():
            tasks += w.probes.stop()
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self.workers.clear()


_NOTHING = RuntimePod(uid="", namespace="", name="")


def _grace(pod: Pod) -> float:
    md, spec = pod.get("metadata") or {}, pod.get("spec") or {}
    value: Any = md.get("deletionGracePeriodSeconds")
    if value is None:
        value = spec.get("terminationGracePeriodSeconds", 30)
    return float(value)


def _probe_grace(pod: Pod, name: str) -> float:
    """A probe's own terminationGracePeriodSeconds wins over the pod's."""
    containers: list[dict[str, Any]] = (pod.get("spec") or {}).get("containers") or []
    c = next((x for x in containers if x.get("name") == name), {})
    for kind in ("liveness", "startup"):
        value = (c.get(f"{kind}Probe") or {}).get("terminationGracePeriodSeconds")
        if value is not None:
            return float(value)
    return float((pod.get("spec") or {}).get("terminationGracePeriodSeconds", 30))


def parse_pod(pod_json: str) -> Pod:
    pod = json.loads(pod_json)
    if not isinstance(pod, dict) or not (pod.get("metadata") or {}).get("uid"):
        raise ValueError("an assignment's pod_json is not a Pod with metadata.uid")
    return pod
