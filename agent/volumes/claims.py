"""The PersistentVolumeClaim volumes of this node's pods, as their assignments resolved them.

The gateway sends each claim volume of a pod resolved to a directory on this node
(`PodAssignment.claim_volumes`), or the reason it cannot be mounted yet. Before a pod's sandbox
is made, `prepare` checks every one, as the kubelet's volume manager does before it starts a
pod: the claim is bound, a volume of the built-in provisioner is whole and mounted here, a
static `local` path exists, a hostPath has the type asked (DirectoryOrCreate makes it); then the
pod's fsGroup is applied to its writable local volumes. A problem is the pod's FailedMount event,
worded as the kubelet words it, and the pod waits in ContainerCreating until it is solved.
The runtime binds the directories (`paths`) into the containers; nothing is mounted on the node
for a pod, so nothing is left to unmount when it goes.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from pyctl_proto import node_pb2 as pb

from ..types import Obj
from .ownership import set_ownership


class LocalHost(Protocol):
    """The node's local volumes (local.LocalVolumes, or hollow.HollowVolumes)."""

    def ready(self, name: str) -> str: ...


@dataclass(frozen=True)
class Claimed:
    volume: str
    claim: str
    error: str
    pv: str
    kind: str
    path: str
    host_path_type: str
    read_only: bool
    provisioned: bool

    @staticmethod
    def of(c: pb.ClaimVolume) -> "Claimed":
        return Claimed(c.volume, c.claim, c.error, c.persistent_volume, c.kind, c.path, c.host_path_type,
                       c.read_only, c.provisioned)


_TYPE_CHECKS = {
    "Directory": (stat.S_ISDIR, "is not a directory"),
    "DirectoryOrCreate": (stat.S_ISDIR, "is not a directory"),
    "File": (stat.S_ISREG, "is not a file"),
    "FileOrCreate": (stat.S_ISREG, "is not a file"),
    "Socket": (stat.S_ISSOCK, "is not a socket file"),
    "CharDevice": (stat.S_ISCHR, "is not a character device"),
    "BlockDevice": (stat.S_ISBLK, "is not a block device"),
}


def host_path_problem(path: str, kind: str) -> str:
    """The kubelet's hostPath type check ("" when it passes); the *OrCreate types make the path."""
    if not kind:
        return ""
    if kind == "DirectoryOrCreate" and not os.path.exists(path):
        os.makedirs(path, 0o755, exist_ok=True)
    elif kind == "FileOrCreate" and not os.path.exists(path):
        os.makedirs(os.path.dirname(path) or "/", 0o755, exist_ok=True)
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o644))
    check, what = _TYPE_CHECKS.get(kind, (None, ""))
    if check is None:
        return f"hostPath type check failed: unknown type {kind}"
    try:
        ok = check(os.stat(path).st_mode)
    except OSError:
        ok = False
    return "" if ok else f"hostPath type check failed: {path} {what}"


class ClaimMounts:
    def __init__(self, local: LocalHost | None = None, *, node_paths: bool = True) -> None:
        """`node_paths`: check hostPath and static local paths and apply fsGroup on this machine
        (False for hollow nodes, whose paths are not theirs)."""
        self.local = local
        self.node_paths = node_paths
        self._claims: dict[str, list[Claimed]] = {}  # pod uid -> its claim volumes
        self._pods: dict[str, str] = {}  # pod uid -> namespace/name

    # -- what the assignments said --------------------------------------------------------------

    def record(self, pod: Obj, claims: list[pb.ClaimVolume]) -> bool:
        """Record what came with an assignment; True when it differs from what was known."""
        md = pod.get("metadata") or {}
        uid = md.get("uid", "")
        new = [Claimed.of(c) for c in claims]
        self._pods[uid] = f"{md.get('namespace', '')}/{md.get('name', '')}"
        changed = self._claims.get(uid, []) != new
        self._claims[uid] = new
        return changed

    def forget(self, uid: str) -> None:
        self._claims.pop(uid, None)
        self._pods.pop(uid, None)

    def retain(self, uids: set[str]) -> None:
        for uid in list(self._claims):
            if uid not in uids:
                self.forget(uid)

    def user_of(self, path: str) -> str:
        """A pod of this node whose claim volume is `path` ("" when none)."""
        for uid, claims in self._claims.items():
            if any(c.path == path for c in claims):
                return self._pods.get(uid, uid)
        return ""

    # -- before a pod starts --------------------------------------------------------------------

    def _of(self, pod: Obj) -> list[Claimed]:
        return self._claims.get((pod.get("metadata") or {}).get("uid", ""), [])

    def _wanted(self, pod: Obj) -> list[str]:
        return [v.get("name", "") for v in (pod.get("spec") or {}).get("volumes") or []
                if isinstance(v.get("persistentVolumeClaim"), dict)]

    def problem(self, pod: Obj) -> str:
        """Why the pod's claim volumes cannot be mounted now ("" when they can)."""
        known = {c.volume: c for c in self._of(pod)}
        wanted = self._wanted(pod)
        for name in wanted:
            c = known.get(name)
            if c is None or c.error:
                why = c.error if c is not None else "the claim has not been resolved for this node yet"
                names = " ".join(wanted)
                return (f"Unable to attach or mount volumes: unmounted volumes=[{names}], unattached volumes="
                        f"[{names}], failed to process volumes=[{name}]: {why}")
            why = self._volume_problem(c)
            if why:
                return f'MountVolume.SetUp failed for volume "{c.pv}" : {why}'
        return ""

    def _volume_problem(self, c: Claimed) -> str:
        if c.provisioned:
            return self.local.ready(c.pv) if self.local is not None else "this node keeps no local volumes"
        if not self.node_paths:
            return ""
        if c.kind == "hostPath":
            return host_path_problem(c.path, c.host_path_type)
        if not os.path.isdir(c.path):
            return f'path "{c.path}" does not exist'
        return ""

    def involved(self, pod: Obj) -> bool:
        """Whether the pod has claim volumes (wanted by its spec or known for it), i.e. whether
        `prepare` has anything to check."""
        return bool(self._wanted(pod) or self._of(pod))

    def prepare(self, pod: Obj) -> str:
        """Check the pod's claim volumes and apply its fsGroup; "" when it may start. Blocking
        (it may walk a volume): run it in a thread."""
        problem = self.problem(pod)
        if problem:
            return problem
        sc = (pod.get("spec") or {}).get("securityContext") or {}
        gid = sc.get("fsGroup")
        if isinstance(gid, int) and self.node_paths:
            policy = sc.get("fsGroupChangePolicy") or "Always"
            for c in self._of(pod):
                if c.kind == "local" and not c.read_only:
                    try:
                        set_ownership(Path(c.path), gid, policy)
                    except OSError as exc:
                        return f'MountVolume.SetUp failed for volume "{c.pv}" : applying fsGroup {gid}: {exc}'
        return ""

    def paths(self, pod: Obj) -> tuple[dict[str, str], set[str]]:
        """Pod volume name -> its directory on the node, and the volumes mounted read-only."""
        claims = [c for c in self._of(pod) if not c.error]
        return {c.volume: c.path for c in claims}, {c.volume for c in claims if c.read_only}
