"""subPath and subPathExpr: a directory inside a volume, made when missing, never outside it.

A symbolic link inside the volume may point anywhere on the node (the volume is the user's);
following it for a subPath would mount that place into the container (kube's CVE-2017-1002101).
So each component is looked at before it is used: a link is followed only if where it leads
stays inside the volume, a missing directory is made, and the result is checked once more.
"""

from __future__ import annotations

import os
import stat
from pathlib import PurePosixPath


class SubPathError(Exception):
    """The subPath cannot be used: the message says why."""


def checked(sub: str) -> PurePosixPath:
    path = PurePosixPath(sub)
    if not sub or path.is_absolute():
        raise SubPathError(f"subPath {sub!r} must be a relative path")
    if ".." in path.parts:
        raise SubPathError(f"subPath {sub!r} must not contain '..'")
    return path


def _inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip("/") + "/")


def resolve(volume_root: str, sub: str) -> str:
    """`volume_root`/`sub` on the node: an existing file or directory, or a new directory with
    the volume root's permissions (as the kubelet makes them, so whoever may write the volume
    may write there)."""
    root = os.path.realpath(volume_root)
    mode = stat.S_IMODE(os.stat(root).st_mode) & 0o777
    current = root
    for part in checked(sub).parts:
        nxt = os.path.join(current, part)
        if os.path.islink(nxt):
            nxt = os.path.realpath(nxt)
            if not _inside(nxt, root):
                raise SubPathError(f"subPath {sub!r} leads outside the volume (through a symbolic link)")
        if not os.path.lexists(nxt):
            os.mkdir(nxt)
            os.chmod(nxt, mode | (os.stat(nxt).st_mode & stat.S_ISGID))  # not the agent's umask
        current = nxt
    final = os.path.realpath(current)
    if not _inside(final, root):
        raise SubPathError(f"subPath {sub!r} leads outside the volume")
    return final


def source(volume_root: str, sub: str) -> str:
    """What a volumeMount with `sub` binds: the volume itself when `sub` is empty."""
    return volume_root if not sub else resolve(volume_root, sub)

