"""The built-in provisioner's node half: the local volumes this node keeps, on disk.

    <root>/<volume>/                 the volume itself (the PersistentVolume's local.path); with
                                     loop enforcement, the mountpoint of its image
    <root>/.pyctl/<volume>.ext4      its ext4 image (loop enforcement, loopfs.py)
    <root>/.pyctl/<volume>.json      its record: name, claim, size, enforcement, when it was made

A volume is made in steps that can each be repeated (directory, image, mount, root mode) and
its record is written last: a volume with a record is whole, and only such a volume is ever
mounted into a pod. It is deleted in the reverse order, the record last, and only when the
control plane asks (NodeVolumes DELETE: reclaim policy Delete, no claim uses it) and no pod
of this node still names it. A directory the control plane no longer mentions is left alone.
After an agent restart or a reboot, `restore` mounts every loop volume again from its record,
before any pod is started; nothing is ever formatted twice.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import re
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

from pyctl_proto import node_pb2 as pb

from ..network.netns import mounts_under
from . import loopfs

log = logging.getLogger(__name__)

META = ".pyctl"
LOOP, NONE = "loop", "none"
ENFORCEMENTS = ("auto", LOOP, NONE)
_NAME = re.compile(r"[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?")
HOST_SHARE = 0.9  # of the free space: what volumes may take in all unless --volume-capacity says


class VolumeError(Exception):
    """A volume could not be made, mounted or deleted: the message says why."""


@dataclass(frozen=True)
class Record:
    name: str
    claim: str
    capacity_bytes: int
    enforcement: str
    created: str


def _write_atomic(path: Path, data: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    tmp.replace(path)
    fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class LocalVolumes:
    def __init__(self, root: Path | str, *, capacity: int | None = None, enforcement: str = "auto") -> None:
        if enforcement not in ENFORCEMENTS:
            raise ValueError(f"volume enforcement {enforcement!r}: expected one of {', '.join(ENFORCEMENTS)}")
        self.root = Path(root).absolute()
        self.meta = self.root / META
        self.meta.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(self.root, 0o711)  # pods reach their volume by path; nobody lists the others
        why_not = loopfs.available()
        if enforcement == LOOP and why_not:
            raise ValueError(f"--volume-enforcement loop: {why_not}")
        self.enforcement = LOOP if enforcement == LOOP or (enforcement == "auto" and not why_not) else NONE
        if enforcement == "auto" and why_not:
            log.warning("local volumes: sizes are recorded, not enforced: %s", why_not)
        self.capacity = capacity if capacity is not None else self._default_capacity()

    def _default_capacity(self) -> int:
        st = os.statvfs(self.root)
        held = sum(r.capacity_bytes for r in self.records().values())
        return int(st.f_bavail * st.f_frsize * HOST_SHARE) + held

    # -- what exists ----------------------------------------------------------------------------------

    def _record_path(self, name: str) -> Path:
        return self.meta / f"{name}.json"

    def _image(self, name: str) -> Path:
        return self.meta / f"{name}.ext4"

    def record(self, name: str) -> Record | None:
        try:
            return Record(**json.loads(self._record_path(name).read_text()))
        except (OSError, ValueError, TypeError):
            return None

    def records(self) -> dict[str, Record]:
        out = {}
        for path in sorted(self.meta.glob("*.json")):
            rec = self.record(path.stem)
            if rec is not None:
                out[rec.name] = rec
        return out

    def _checked(self, name: str, path: str) -> Path:
        """The volume's directory: exactly <root>/<name>, nothing else may be touched."""
        if not _NAME.fullmatch(name) or path != str(self.root / name):
            raise VolumeError(f"refusing volume {name!r} at {path!r}: local volumes live at {self.root}/<name>")
        target = self.root / name
        if target.is_symlink():
            raise VolumeError(f"refusing volume {name}: {target} is a symbolic link")
        return target

    def ready(self, name: str) -> str:
        """"" when the volume can be mounted into a pod now, else why not (FailedMount)."""
        rec = self.record(name)
        if rec is None:
            return f"the local volume {name} has not been made on this node yet"
        if rec.enforcement == LOOP and not loopfs.mounted(self.root / name):
            return f"the local volume {name} is not mounted on this node"
        return ""

    # -- making and deleting ----------------------------------------------------------------------------

    def ensure(self, name: str, path: str, capacity: int, claim: str) -> None:
        """Make the volume if it is not whole yet, mount it if it is not mounted."""
        target = self._checked(name, path)
        rec = self.record(name)
        enforcement = rec.enforcement if rec is not None else self.enforcement
        try:
            target.mkdir(mode=0o755, exist_ok=True)
            if enforcement == LOOP:
                if rec is None:
                    loopfs.make_image(self._image(name), capacity)
                elif not self._image(name).exists():
                    raise VolumeError(f"the image of local volume {name} is missing ({self._image(name)})")
                if not loopfs.mounted(target):
                    loopfs.mount(self._image(name), target)
            if rec is None:
                target.chmod(0o777)  # as local-path-provisioner: any user may write; fsGroup narrows it
                lost = target / "lost+found"
                if lost.is_dir() and not any(lost.iterdir()):
                    lost.rmdir()
                now = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
                _write_atomic(self._record_path(name), json.dumps(asdict(Record(name, claim, capacity, enforcement,
                                                                                  now))))
                log.info("local volume %s made (%s bytes, %s) for claim %s", name, capacity, enforcement, claim)
        except (OSError, loopfs.LoopError) as exc:
            raise VolumeError(f"making local volume {name}: {exc}") from exc

    def delete(self, name: str, path: str) -> None:
        """Remove the volume and its data; what is already gone is skipped (repeatable)."""
        target = self._checked(name, path)
        try:
            if loopfs.mounted(target):
                loopfs.unmount(target)
            if target.exists():
                if mounts_under(target):
                    raise VolumeError(f"{target} has something mounted below it; not deleting")
                shutil.rmtree(target)
            image = self._image(name)
            if image.exists():
                loopfs.detach(image)
                image.unlink()
            self._record_path(name).unlink(missing_ok=True)
            log.info("local volume %s deleted, with its data (reclaim policy Delete)", name)
        except (OSError, loopfs.LoopError) as exc:
            raise VolumeError(f"deleting local volume {name}: {exc}") from exc

    def restore(self) -> list[str]:
        """Mount every whole loop volume that is not mounted (after a reboot); the problems."""
        problems = []
        for rec in self.records().values():
            if rec.enforcement != LOOP:
                continue
            try:
                self.ensure(rec.name, str(self.root / rec.name), rec.capacity_bytes, rec.claim)
            except VolumeError as exc:
                problems.append(str(exc))
                log.error("%s", exc)
        return problems

    def reconcile(self, volumes: pb.NodeVolumes, in_use: Callable[[str], str]) -> pb.VolumeReport:
        """Do what NodeVolumes asks; `in_use(path)` names a pod of this node mounting a path ("": none)."""
        out = []
        for lv in volumes.volumes:
            state = pb.VolumeState(name=lv.name, phase=pb.VolumeState.READY)
            try:
                if lv.action == pb.LocalVolume.DELETE:
                    user = in_use(lv.path)
                    if user:
                        raise VolumeError(f"local volume {lv.name} is still used by pod {user}; not deleting")
                    self.delete(lv.name, lv.path)
                    state.phase = pb.VolumeState.DELETED
                else:
                    self.ensure(lv.name, lv.path, lv.capacity_bytes, lv.claim)
            except VolumeError as exc:
                state.phase, state.message = pb.VolumeState.FAILED, str(exc)
                log.warning("%s", exc)
            out.append(state)
        return pb.VolumeReport(volumes=out)

