"""The Runtime Protocol the pod sync loop drives, and the observed-state types it returns.

A runtime knows nothing about assignments or the API: it starts a pod's sandbox and
containers, restarts one container, stops a pod within a grace period, and reports what
is running. Its reports are the "observed" half of the agent's reconciliation.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

Pod = dict[str, Any]  # a v1 Pod as JSON


class ExecRefused(Exception):
    """The runtime cannot run a command in that container (the message says why, for the user)."""


@dataclass(frozen=True)
class ExecCommand:
    """How to run a command inside a container from the host, for the Exec RPC."""

    argv: list[str]
    """The host command (e.g. `runc exec ...`); it exits with the command's exit code."""
    pid_file: Path
    """Written by the host command once the command runs in the container: its host PID.
    Its absence after the host command ended means the command never started."""


# Failures before a container exists (its image, its configuration): it never ran, so a
# retry is not a restart and the kubelet keeps restartCount and lastState as they were.
NEVER_RAN = ("ErrImagePull", "CreateContainerConfigError")


@dataclass
class ContainerState:
    name: str
    container_id: str = ""          # "<runtime>://<id>", as in containerStatuses[].containerID
    image: str = ""
    image_id: str = ""
    state: str = "waiting"          # waiting | running | exited
    reason: str = ""                # waiting/terminated reason (ContainerCreating, Completed, Error...)
    message: str = ""
    started_at: str = ""            # RFC 3339
    finished_at: str = ""
    exit_code: int | None = None
    restart_count: int = 0
    ready: bool = False
    startup_pending: bool = False   # running, but its startup probe has not succeeded yet
    last_state: "ContainerState | None" = None  # the previous run, after a restart


@dataclass
class RuntimePod:
    uid: str
    namespace: str
    name: str
    pod_ip: str = ""
    started_at: str = ""
    containers: list[ContainerState] = field(default_factory=list)

    def container(self, name: str) -> ContainerState | None:
        return next((c for c in self.containers if c.name == name), None)


@dataclass(frozen=True)
class Counters:
    """What a cgroup (or the node) has used, at one instant."""

    cpu_ns: int
    """CPU time used since the cgroup was made, in nanoseconds (cumulative)."""
    memory_working_set: int
    """Bytes in use that the kernel could not simply drop (usage less inactive file pages)."""


@dataclass
class PodUsage:
    namespace: str
    name: str
    uid: str
    containers: dict[str, tuple[str, Counters]] = field(default_factory=dict)
    """Running container name -> (its container ID, its counters); a new ID restarts the count."""


@dataclass
class NodeUsage:
    node: Counters | None
    pods: list[PodUsage] = field(default_factory=list)


class Runtime(Protocol):
    name: str
    """Short name: "hollow", "runc"."""
    version: str
    """Reported as the node's containerRuntimeVersion (e.g. "hollow://0.1")."""

    async def start_pod(self, pod: Pod) -> RuntimePod:
        """Create the sandbox and start every container; idempotent for a pod already started."""
        ...

    async def restart_container(self, uid: str, name: str) -> None:
        """Start a new run of an exited container (restartCount + 1)."""
        ...

    async def stop_container(self, uid: str, name: str, grace: float) -> None:
        """Stop one running container (TERM, then KILL after `grace`), leaving it exited so
        the pod worker's restart path decides what happens next (a failed liveness probe)."""
        ...

    async def stop_containers(self, uid: str, grace: float) -> None:
        """Stop every running container of the pod at once (TERM, then KILL after `grace`) and
        keep their exited states, so that they are reported before `stop_pod` removes the pod."""
        ...

    async def exec_in_container(self, uid: str, name: str, argv: list[str],
                                timeout: float) -> tuple[int, str]:
        """Run `argv` inside a running container: (exit code, combined output). Raises
        asyncio.TimeoutError after `timeout` seconds (an exec probe's timeoutSeconds)."""
        ...

    async def exec_command(self, uid: str, name: str, argv: list[str], tty: bool) -> ExecCommand:
        """The host command that runs `argv` in the running container (with a terminal when
        `tty`: the host command then expects one on its stdio). Raises ExecRefused."""
        ...

    async def stop_pod(self, uid: str, grace: float) -> None:
        """Stop every container (TERM, then KILL after `grace` seconds) and remove the sandbox."""
        ...

    async def pod_status(self, uid: str) -> RuntimePod | None:
        """What runs for that pod now; None when the runtime has nothing for it."""
        ...

    async def list_pods(self) -> list[RuntimePod]:
        """Every pod the runtime holds (to adopt after a restart, or to clean up orphans)."""
        ...

    def log_path(self, uid: str, name: str) -> Path | None:
        """The CRI-format ("k8s-file") log of the container's current run, named
        `<restart count>.log`; earlier runs' logs stay beside it (for `logs --previous`)
        until the pod is stopped. None when the runtime knows no such container."""
        ...

    async def usage(self) -> NodeUsage:
        """What the node and each running container have used so far (metrics.k8s.io)."""
        ...

    async def close(self) -> None:
        """Release the runtime's resources; pods keep running where the runtime allows it."""
        ...
