"""The per-pod sync loops: desired (the assignments) against observed (the runtime).

`PodManager` holds the desired set, applies COMPLETE / INCREMENTAL assignment messages and
owns one `PodWorker` task per pod. A worker is level-triggered: woken by a change or
periodically, it re-reads the desired pod and the runtime's view and does the next step:
start the pod, restart an exited container when restartPolicy says so (with exponential
back-off: CrashLoopBackOff), kill a container whose liveness or startup probe failed (the
restart path then starts it again), or, for a pod being deleted, stop it and confirm. Probe
results (`probes.PodProbes`) wake the worker and set readiness. Status is
reported only when it changes; `Outbox` coalesces reports per pod until the session sends.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from dataclasses import dataclass, field
from typing import Any

from .probes import PodProbes
from .runtime.base import Pod, Runtime
from .status import Status, never_started, pod_status, should_restart

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
class PodConfig:
    resync_period: float = 10.0
    """Seconds between unprompted re-checks of each pod (notices container exits)."""
    backoff_base: float = 10.0
    """First restart delay of a crashing container; doubles per restart."""
    backoff_max: float = 300.0
    """Longest restart delay."""


class PodWorker:
    def __init__(self, manager: "PodManager", ref: PodRef) -> None:
        self.m, self.ref = manager, ref
        self.wake = asyncio.Event()
        self.reported: Status | None = None
        self.restart_at: dict[str, float] = {}   # container -> monotonic time of the next start
        self.backoff: dict[str, float] = {}      # container -> current delay
        self.last_pod: Pod | None = None
        self.probes = PodProbes(manager.runtime, ref.uid, self.wake.set)
        self.task = asyncio.create_task(self._loop(), name=f"pod-{ref.namespace}/{ref.name}")

    async def _loop(self) -> None:
        delay = 0.0
        while True:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self.wake.wait(), delay)
            self.wake.clear()
            try:
                done, delay = await self.sync()
            except Exception:  # a runtime failure: try again later, never kill the loop
                log.exception("pod %s/%s: sync failed", self.ref.namespace, self.ref.name)
                done, delay = False, min(self.m.config.resync_period, 5.0)
            if done:
                self.probes.stop()
                return

    async def sync(self) -> tuple[bool, float]:
        """One reconciliation step; returns (worker finished, seconds until the next check)."""
        rt, cfg = self.m.runtime, self.m.config
        pod = self.m.desired.get(self.ref.uid)
        if pod is None:  # no longer assigned (deleted without us, or moved): stop it
            grace = _grace(self.last_pod) if self.last_pod else 0
            await rt.stop_pod(self.ref.uid, grace)
            self.m.workers.pop(self.ref.uid, None)
            # The pod is gone from the API: unsent reports about it would only be refused.
            self.m.outbox.statuses.pop(self.ref, None)
            self.m.outbox.deleted.pop(self.ref, None)
            return True, 0.0
        self.last_pod = pod
        if pod["metadata"].get("deletionTimestamp"):
            self.probes.stop()
            await rt.stop_pod(self.ref.uid, _grace(pod))
            self.m.outbox.confirm_deleted(self.ref)  # again each resync, until REMOVE arrives
            return False, cfg.resync_period
        observed = await rt.pod_status(self.ref.uid)
        final = (self.reported or {}).get("phase") in ("Succeeded", "Failed")
        if observed is None and not final:
            observed = await rt.start_pod(pod)
        next_check = cfg.resync_period
        now = time.monotonic()
        policy = (pod.get("spec") or {}).get("restartPolicy", "Always")
        for c in observed.containers if observed else []:
            # A container that never started is retried whatever the policy, as the kubelet
            # retries image pulls and container configuration.
            if c.state != "exited" or not (never_started(c) or should_restart(policy, c.exit_code)):
                continue
            due = self.restart_at.get(c.name)
            if due is None:
                delay = self.backoff.get(c.name, 0.0)
                self.backoff[c.name] = min(cfg.backoff_max, max(cfg.backoff_base, delay * 2))
                due = self.restart_at[c.name] = now + delay
            if now >= due:
                await rt.restart_container(self.ref.uid, c.name)
                self.restart_at.pop(c.name, None)
                next_check = 0.0
            else:
                next_check = min(next_check, due - now)
        if next_check == 0.0:
            observed = await rt.pod_status(self.ref.uid)
            next_check = cfg.resync_period
        unhealthy = self.probes.update(pod, observed)
        if unhealthy:
            # As the kubelet: a failed liveness/startup probe kills the container; the next
            # sync restarts it (restartPolicy, back-off) like any other exit.
            for name in unhealthy:
                log.info("pod %s/%s container %s failed its liveness/startup probe, killing it",
                         self.ref.namespace, self.ref.name, name)
                await rt.stop_container(self.ref.uid, name, _probe_grace(pod, name))
            observed = await rt.pod_status(self.ref.uid)
            self.probes.update(pod, observed)
            next_check = 0.0
        status = pod_status(pod, observed, self.m.host_ip, backing_off=set(self.restart_at),
                            previous=self.reported)
        if status != self.reported:
            self.reported = status
            self.m.outbox.status(self.ref, status)
        return False, next_check


class PodManager:
    def __init__(self, runtime: Runtime, host_ip: str, config: PodConfig | None = None) -> None:
        self.runtime = runtime
        self.host_ip = host_ip
        self.config = config or PodConfig()
        self.desired: dict[str, Pod] = {}
        self.workers: dict[str, PodWorker] = {}
        self.outbox = Outbox()

    # -- assignments ---------------------------------------------------------------------------

    def apply_complete(self, pods: list[Pod]) -> None:
        self.desired = {p["metadata"]["uid"]: p for p in pods}
        for uid in list(self.workers):
            if uid not in self.desired:
                self.workers[uid].wake.set()
        for pod in pods:
            self._poke(pod)
        asyncio.get_running_loop().create_task(self._stop_orphans())

    def upsert(self, pod: Pod) -> None:
        self.desired[pod["metadata"]["uid"]] = pod
        self._poke(pod)

    def remove(self, pod: Pod) -> None:
        uid = pod["metadata"]["uid"]
        self.desired.pop(uid, None)
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
