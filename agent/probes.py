"""Container probes: liveness, readiness and startup, one asyncio task per (container, kind).

A `Prober` runs one probe of one container run: a jittered first tick (so a node's probes do
not fire in lockstep), then one check every periodSeconds, skipped until initialDelaySeconds
have passed; a check taking longer than timeoutSeconds fails. Raw results pass through the
thresholds (failureThreshold consecutive failures, successThreshold consecutive successes)
and only a CHANGE of the thresholded result is reported, which wakes the pod worker.

`PodProbes` owns a pod's probers: it starts them for a running container that declares
probes (a pod without probes costs nothing), drops them when the container's run changes,
holds liveness/readiness back until the startup probe has succeeded, and tells the pod
worker which containers are ready and which must be killed (liveness or startup failed).

Handlers: `exec` runs a command in the container through the runtime; `httpGet` and
`tcpSocket` connect from the node to the pod IP (the pod's netns is bridged to the node).
A failed check says why (`ProbeFailure`, or the error it raised): each failure is reported to
`on_failure`, which the pod worker turns into an Unhealthy event.
A runtime with a `simulated_probe(uid, container, kind)` method (the hollow runtime) answers
every probe itself, since its pod IPs are not real.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import ssl
import time
from dataclasses import dataclass
from typing import Any, Awaitable, Callable

from . import metrics
from .runtime.base import Pod, Runtime, RuntimePod

log = logging.getLogger(__name__)

KINDS = ("startup", "liveness", "readiness")


class ProbeFailure(Exception):
    """A check that ran and failed; the message is what the user reads after "<Kind> probe failed: "."""
Check = Callable[[], Awaitable[bool]]
Sleep = Callable[[float], Awaitable[None]]


@dataclass(frozen=True)
class ProbeSpec:
    """The timing fields of a v1 Probe, with Kubernetes' defaults."""

    initial_delay: float = 0.0
    """initialDelaySeconds: no check before this long after the container started."""
    period: float = 10.0
    """periodSeconds: time between checks."""
    timeout: float = 1.0
    """timeoutSeconds: a check taking longer fails."""
    failure_threshold: int = 3
    """Consecutive failures that turn the result to failure."""
    success_threshold: int = 1
    """Consecutive successes that turn the result to success (always 1 for liveness/startup)."""

    @staticmethod
    def of(probe: dict[str, Any], kind: str) -> "ProbeSpec":
        success = int(probe.get("successThreshold") or 1)
        return ProbeSpec(
            initial_delay=float(probe.get("initialDelaySeconds") or 0),
            period=float(probe.get("periodSeconds") or 10),
            timeout=float(probe.get("timeoutSeconds") or 1),
            failure_threshold=max(1, int(probe.get("failureThreshold") or 3)),
            success_threshold=success if kind == "readiness" else 1)


def initial_result(kind: str) -> bool | None:
    """What a probe says before its first verdict: live until proven dead, not ready until
    proven ready, not started (None) until the startup probe succeeds."""
    return {"liveness": True, "readiness": False}.get(kind)


class Prober:
    """One probe of one container run. `check` returns the raw result of one attempt."""

    def __init__(self, kind: str, spec: ProbeSpec, check: Check, on_change: Callable[["Prober"], None],
                 *, gate: Callable[[], bool] = lambda: True,
                 on_failure: Callable[["Prober", str], None] | None = None, sleep: Sleep = asyncio.sleep,
                 clock: Callable[[], float] = time.monotonic,
                 jitter: Callable[[], float] = random.random) -> None:
        self.kind, self.spec, self.check = kind, spec, check
        self.on_change, self.gate, self.on_failure = on_change, gate, on_failure
        self.sleep, self.clock, self.jitter = sleep, clock, jitter
        self.result: bool | None = initial_result(kind)
        self._last: bool | None = None   # last raw result, and how many times in a row
        self._run = 0
        self.started_at = clock()
        self.task: asyncio.Task[None] | None = None

    def start(self) -> "Prober":
        self.task = asyncio.create_task(self.run(), name=f"probe-{self.kind}")
        return self

    def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()

    async def run(self) -> None:
        await self.sleep(self.jitter() * self.spec.period)
        while await self.tick():
            await self.sleep(self.spec.period)

    async def tick(self) -> bool:
        """One period; returns False once this run needs no more probing."""
        if not self.gate() or self.clock() - self.started_at < self.spec.initial_delay:
            return True
        why = ""
        try:
            ok = await asyncio.wait_for(self.check(), self.spec.timeout)
        except asyncio.TimeoutError:
            ok, why = False, f"timeout: no answer within {self.spec.timeout:g}s"
        except Exception as e:  # handler errors are failed checks
            log.debug("%s probe failed: %r", self.kind, e)
            ok, why = False, str(e) or type(e).__name__
        metrics.probed(self.kind, ok)
        if not ok and self.on_failure is not None:
            self.on_failure(self, why)
        self.observe(ok)
        if self.kind == "startup" and self.result:
            return False  # startup probes stop once the container has started
        # A failed liveness/startup probe gets the container killed; its next run gets new probers.
        return not (self.kind in ("liveness", "startup") and self.result is False)

    def observe(self, ok: bool) -> None:
        """Apply one raw result to the thresholds; report when the thresholded result changes."""
        self._run = self._run + 1 if ok == self._last else 1
        self._last = ok
        needed = self.spec.success_threshold if ok else self.spec.failure_threshold
        if self._run < needed or self.result == ok:
            return
        self.result = ok
        self.on_change(self)


# -- handlers ----------------------------------------------------------------------------------

def _port(value: Any, container: dict[str, Any]) -> int:
    """A probe port: a number, or the name of one of the container's ports."""
    if isinstance(value, int) or (isinstance(value, str) and value.isdigit()):
        return int(value)
    for p in container.get("ports") or []:
        if p.get("name") == value:
            return int(p["containerPort"])
    raise ValueError(f"no container port named {value!r}")


async def http_get(host: str, action: dict[str, Any], container: dict[str, Any]) -> bool:
    """GET over a fresh connection; 200-399 succeeds (redirects are not followed)."""
    return 200 <= await http_status(host, action, container) < 400


async def http_status(host: str, action: dict[str, Any], container: dict[str, Any]) -> int:
    """The status code of the probe's GET (0: no valid status line)."""
    port = _port(action.get("port"), container)
    host = action.get("host") or host
    tls: ssl.SSLContext | None = None
    if str(action.get("scheme", "HTTP")).upper() == "HTTPS":
        tls = ssl.create_default_context()  # the kubelet does not verify probe certificates either
        tls.check_hostname, tls.verify_mode = False, ssl.CERT_NONE
    reader, writer = await asyncio.open_connection(host, port, ssl=tls)
    try:
        path = action.get("path") or "/"
        headers = {"Host": f"{host}:{port}", "User-Agent": "kube-probe/pyctl", "Accept": "*/*"}
        for h in action.get("httpHeaders") or []:
            headers[h["name"]] = h.get("value", "")
        headers["Connection"] = "close"
        head = f"GET {path if path.startswith('/') else '/' + path} HTTP/1.1\r\n"
        head += "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
        writer.write(head.encode("latin-1"))
        await writer.drain()
        status_line = (await reader.readline()).decode("latin-1").split()
        return int(status_line[1]) if len(status_line) >= 2 and status_line[1].isdigit() else 0
    finally:
        writer.close()
        with contextlib.suppress(Exception):
            await writer.wait_closed()


async def tcp_socket(host: str, action: dict[str, Any], container: dict[str, Any]) -> bool:
    _, writer = await asyncio.open_connection(action.get("host") or host, _port(action.get("port"), container))
    writer.close()
    with contextlib.suppress(Exception):
        await writer.wait_closed()
    return True


def make_check(runtime: Runtime, uid: str, container: dict[str, Any], kind: str, probe: dict[str, Any],
               pod_ip: str) -> Check:
    """The raw check of one probe of one container."""
    simulated = getattr(runtime, "simulated_probe", None)
    name, timeout = container["name"], ProbeSpec.of(probe, kind).timeout
    if simulated is not None:
        async def check_simulated() -> bool:
            if not simulated(uid, name, kind):
                raise ProbeFailure("simulated failure (pyctl.io/hollow-probe-fail)")
            return True
        return check_simulated
    if "exec" in probe:
        argv = list((probe["exec"] or {}).get("command") or [])

        async def check_exec() -> bool:
            code, output = await runtime.exec_in_container(uid, name, argv, timeout)
            if code != 0:  # as the kubelet: the command's own output says why
                raise ProbeFailure(output.strip()[:512] or f"command {argv} exited with {code}")
            return True
        return check_exec
    if "httpGet" in probe:
        async def check_http() -> bool:
            code = await http_status(pod_ip, probe["httpGet"], container)
            if not 200 <= code < 400:
                raise ProbeFailure(f"HTTP probe failed with statuscode: {code}")
            return True
        return check_http
    if "tcpSocket" in probe:
        return lambda: tcp_socket(pod_ip, probe["tcpSocket"], container)

    async def unsupported() -> bool:  # e.g. grpc: never silently "healthy"
        raise ValueError(f"unsupported probe handler in {sorted(probe)}")
    return unsupported


# -- per pod -----------------------------------------------------------------------------------

@dataclass
class _Run:
    """The probers of one container run (they end with it)."""

    container_id: str
    probers: dict[str, Prober]


class PodProbes:
    """A pod's probers, kept in step with the runtime's view by `update`."""

    def __init__(self, runtime: Runtime, uid: str, on_change: Callable[[], None],
                 make: Callable[..., Check] = make_check,
                 on_failure: Callable[[str, str, str], None] | None = None) -> None:
        """`on_failure(container, kind, why)`: every failed check (for Unhealthy events)."""
        self.runtime, self.uid, self.on_change, self.make = runtime, uid, on_change, make
        self.on_failure = on_failure
        self.runs: dict[str, _Run] = {}  # container name -> its current run's probers
        self.failed: dict[str, str] = {}  # container to kill -> the probe kind that failed

    def update(self, pod: Pod, observed: RuntimePod | None) -> list[str]:
        """Start/stop probers for what runs now, set each running container's `ready`, and
        return the containers whose liveness or startup probe failed (to be killed)."""
        specs = {c["name"]: c for c in (pod.get("spec") or {}).get("containers") or []}
        running = {c.name: c for c in observed.containers if c.state == "running"} if observed else {}
        for name in list(self.runs):
            c = running.get(name)
            if c is None or c.container_id != self.runs[name].container_id:
                self._drop(name)
        kill = []
        for name, c in running.items():
            spec = specs.get(name) or {}
            probes = {k: spec[f"{k}Probe"] for k in KINDS if spec.get(f"{k}Probe")}
            if not probes:
                continue
            run = self.runs.get(name)
            if run is None:
                run = self.runs[name] = self._start(spec, probes, c.container_id, observed)
            results = {k: p.result for k, p in run.probers.items()}
            started = results.get("startup", True) is True
            ready = results["readiness"] is True if "readiness" in results else c.ready
            c.ready = started and ready
            c.startup_pending = not started
            if results.get("liveness") is False or results.get("startup") is False:
                kill.append(name)
                self.failed[name] = "liveness" if results.get("liveness") is False else "startup"
        return kill

    def _start(self, spec: dict[str, Any], probes: dict[str, dict[str, Any]], container_id: str,
               observed: RuntimePod | None) -> _Run:
        run = _Run(container_id, {})
        startup = probes.get("startup")

        def started() -> bool:
            p = run.probers.get("startup")
            return p is None or p.result is True

        for kind, probe in probes.items():
            check = self.make(self.runtime, self.uid, spec, kind, probe, observed.pod_ip if observed else "")
            gate = (lambda: True) if kind == "startup" or startup is None else started
            report = self.on_failure
            on_failure = None if report is None else \
                (lambda p, why, name=spec["name"]: report(name, p.kind, why))  # type: ignore[misc]
            run.probers[kind] = Prober(kind, ProbeSpec.of(probe, kind), check,
                                       lambda _p: self.on_change(), gate=gate, on_failure=on_failure).start()
        return run

    def _drop(self, name: str) -> list[asyncio.Task[None]]:
        probers = self.runs.pop(name).probers.values()
        for p in probers:
            p.stop()
        return [p.task for p in probers if p.task is not None]

    def stop(self) -> list[asyncio.Task[None]]:
        """Cancel every prober; returns their tasks for a caller that wants to await them."""
        return [t for name in list(self.runs) for t in self._drop(name)]
