"""fsGroup on a volume, as the kubelet applies it (SetVolumeOwnership): every file's group
becomes the pod's fsGroup, files gain group read-write (read-only volumes: read), directories
group execute and setgid, so what containers create later keeps the group too. Symbolic links
change group only. With fsGroupChangePolicy OnRootMismatch nothing is done when the volume's
root already has the group and those bits (a big volume is not walked at every pod start).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

RW, RO, EXEC = 0o660, 0o440, 0o110


def needs_change(root: Path, gid: int, read_only: bool) -> bool:
    st = os.stat(root)
    if st.st_gid != gid or not stat.S_ISDIR(st.st_mode):
        return True
    wanted = (RO if read_only else RW) | EXEC
    return (stat.S_IMODE(st.st_mode) & wanted) != wanted or not st.st_mode & stat.S_ISGID


def _apply(path: str, gid: int, read_only: bool) -> None:
    st = os.lstat(path)
    os.lchown(path, -1, gid)
    if stat.S_ISLNK(st.st_mode):
        return
    mask = RO if read_only else RW
    if stat.S_ISDIR(st.st_mode):
        mask |= stat.S_ISGID | EXEC
    os.chmod(path, stat.S_IMODE(st.st_mode) | mask)


def set_ownership(root: Path, gid: int, policy: str = "Always", read_only: bool = False) -> bool:
    """Apply fsGroup `gid` under `root`; False when OnRootMismatch found nothing to do."""
    if policy == "OnRootMismatch" and not needs_change(root, gid, read_only):
        return False
    for dirpath, dirnames, filenames in os.walk(root):
        _apply(dirpath, gid, read_only)
        for name in filenames + [d for d in dirnames if os.path.islink(os.path.join(dirpath, d))]:
            _apply(os.path.join(dirpath, name), gid, read_only)
    return True
