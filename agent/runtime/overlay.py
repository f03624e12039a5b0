"""The container root filesystem: an overlayfs of read-only image layers plus a private upper.

`lowerdirs` are given top-most first (overlayfs order). The container's writes land in
`<container>/upper`, so image layers stay shared and untouched between containers.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from ..network.netns import mount, unmount


def mount_rootfs(lowerdirs: list[str], container_dir: Path) -> Path:
    """Mount `<container_dir>/rootfs` as overlay(lowerdirs, upper, work); idempotent."""
    if not lowerdirs:
        raise ValueError("an overlay rootfs needs at least one lower layer")
    for layer in lowerdirs:
        if ":" in layer or "," in layer:
            raise ValueError(f"layer path {layer!r} cannot be given to overlayfs")
    rootfs, upper, work = (container_dir / n for n in ("rootfs", "upper", "work"))
    for d in (rootfs, upper, work):
        d.mkdir(parents=True, exist_ok=True)
    if is_mounted(rootfs):
        return rootfs
    opts = f"lowerdir={':'.join(lowerdirs)},upperdir={upper},workdir={work}"
    mount("overlay", str(rootfs), "overlay", opts)
    return rootfs


def unmount_rootfs(container_dir: Path, remove: bool = True) -> None:
    """Unmount the rootfs (lazily if busy) and, with `remove`, delete upper/work too."""
    rootfs = container_dir / "rootfs"
    if is_mounted(rootfs):
        unmount(str(rootfs), lazy=False)
        if is_mounted(rootfs):
            unmount(str(rootfs))  # busy: detach it
    if remove:
        for name in ("rootfs", "upper", "work"):
            shutil.rmtree(container_dir / name, ignore_errors=True)


def is_mounted(path: Path) -> bool:
    """Whether the overlay is mounted on `path`: overlayfs is a device of its own, so this is
    os.path.ismount's stat of the directory and its parent (not a read of
    /proc/self/mountinfo, which costs as much as the node has mounts)."""
    return os.path.ismount(path)
