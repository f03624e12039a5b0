"""Local volumes of a hollow node: nothing on disk, the same answers (kubemark's fake volumes).

A hollow agent registers local storage (a path nobody writes, a capacity a test chooses), so
the provisioner and the scheduler treat it like a real node; each KEEP is READY at once, each
DELETE is DELETED, and a volume is mountable once it was kept.
"""

from __future__ import annotations

from typing import Callable

from pyctl_proto import node_pb2 as pb

HOLLOW_ROOT = "/var/lib/pyctl-hollow/volumes"
HOLLOW_CAPACITY = 100 * 2**30


class HollowVolumes:
    def __init__(self, capacity: int = HOLLOW_CAPACITY, root: str = HOLLOW_ROOT) -> None:
        self.root = root
        self.capacity = capacity
        self.kept: dict[str, int] = {}  # volume -> bytes
        self.deleted: list[str] = []

    def ready(self, name: str) -> str:
        return "" if name in self.kept else f"the local volume {name} has not been made on this node yet"

    def restore(self) -> list[str]:
        return []

    def reconcile(self, volumes: pb.NodeVolumes, in_use: Callable[[str], str]) -> pb.VolumeReport:
        out = []
        for lv in volumes.volumes:
            if lv.action == pb.LocalVolume.DELETE:
                user = in_use(lv.path)
                if user:
                    out.append(pb.VolumeState(name=lv.name, phase=pb.VolumeState.FAILED,
                                              message=f"local volume {lv.name} is still used by pod {user}"))
                    continue
                if self.kept.pop(lv.name, None) is not None:
                    self.deleted.append(lv.name)
                out.append(pb.VolumeState(name=lv.name, phase=pb.VolumeState.DELETED))
            else:
                self.kept[lv.name] = lv.capacity_bytes
                out.append(pb.VolumeState(name=lv.name, phase=pb.VolumeState.READY))
        return pb.VolumeReport(volumes=out)
