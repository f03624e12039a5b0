"""Unpack one layer tarball into its own directory, the way overlayfs wants a lower layer.

Owns decompression (gzip, zstd through the `zstd` CLI, plain tar), diffID verification
(sha256 of the uncompressed tar), OCI whiteouts turned into overlay markers (`.wh.NAME` →
char device 0/0 named NAME; `.wh..wh..opq` → `trusted.overlay.opaque=y` on the directory),
and safe extraction: no entry may land outside the layer dir, and no parent path component
may be a symlink, so a hostile layer cannot write through a link onto the host.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import shutil
import stat
import subprocess
import tarfile
import tempfile
from typing import IO, cast

WHITEOUT_PREFIX = ".wh."
OPAQUE = ".wh..wh..opq"


class UnpackError(Exception):
    """A layer that cannot be unpacked safely or whose content does not match its diffID."""


class _HashingReader:
    """Pass-through reader that hashes everything read: the uncompressed tar's diffID."""

    def __init__(self, inner: IO[bytes]) -> None:
        self.inner = inner
        self.sha = hashlib.sha256()

    def read(self, n: int = -1) -> bytes:
        data = self.inner.read(n)
        self.sha.update(data)
        return data

    def drain(self) -> str:
        while self.read(1 << 20):
            pass
        return "sha256:" + self.sha.hexdigest()


def _open_uncompressed(path: str) -> tuple[IO[bytes], subprocess.Popen[bytes] | None]:
    with open(path, "rb") as f:
        magic = f.read(4)
    if magic[:2] == b"\x1f\x8b":
        return cast(IO[bytes], gzip.open(path, "rb")), None
    if magic == b"\x28\xb5\x2f\xfd":
        # No zstd binding is installed; the CLI streams the same result.
        proc = subprocess.Popen(["zstd", "-dc", "--", path], stdout=subprocess.PIPE,
                                stderr=subprocess.DEVNULL)
        assert proc.stdout is not None
        return proc.stdout, proc
    return open(path, "rb"), None


def _safe_relpath(name: str) -> str:
    parts = [p for p in name.replace("\\", "/").split("/") if p not in ("", ".")]
    if any(p == ".." for p in parts):
        raise UnpackError(f"layer entry {name!r} escapes the layer directory")
    return "/".join(parts)


def _ensure_parent(root: str, rel: str) -> str:
    """Create the parent dirs of `rel` under `root`, refusing symlinked components."""
    cur = root
    for part in rel.split("/")[:-1]:
        cur = os.path.join(cur, part)
        try:
            st = os.lstat(cur)
        except FileNotFoundError:
            os.mkdir(cur, 0o755)
            continue
        if not stat.S_ISDIR(st.st_mode):
            raise UnpackError(f"layer entry {rel!r} goes through non-directory {part!r}")
    return os.path.join(root, rel)


def _remove(path: str, keep_dir: bool = False) -> None:
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if stat.S_ISDIR(st.st_mode):
        if not keep_dir:
            shutil.rmtree(path)
    else:
        os.unlink(path)


def _apply_meta(path: str, m: tarfile.TarInfo) -> None:
    try:
        os.chown(path, m.uid, m.gid, follow_symlinks=False)
    except PermissionError:
        pass  # unprivileged (unit tests): keep our own ownership
    if not m.issym():
        os.chmod(path, m.mode & 0o7777)
    for key, value in (m.pax_headers or {}).items():
        if key.startswith("SCHILY.xattr."):
            try:
                os.setxattr(path, key[len("SCHILY.xattr."):], value.encode("utf-8", "surrogateescape"),
                            follow_symlinks=False)
            except OSError:
                pass  # e.g. security.* xattrs on a filesystem that refuses them


def _extract(tf: tarfile.TarFile, root: str) -> None:
    dir_times: list[tuple[str, float]] = []
    for m in tf:
        rel = _safe_relpath(m.name)
        if not rel:
            continue
        path = _ensure_parent(root, rel)
        base = os.path.basename(rel)
        if base == OPAQUE:
            parent = os.path.dirname(path)
            os.setxattr(parent, "trusted.overlay.opaque", b"y")
            continue
        if base.startswith(WHITEOUT_PREFIX):
            name = base[len(WHITEOUT_PREFIX):]
            if name in ("", ".", "..") or name.startswith(WHITEOUT_PREFIX):
                raise UnpackError(f"invalid whiteout {rel!r}")
            target = os.path.join(os.path.dirname(path), name)
            _remove(target)
            os.mknod(target, stat.S_IFCHR | 0o000, os.makedev(0, 0))
            continue
        _remove(path, keep_dir=m.isdir())
        if m.isdir():
            if not os.path.isdir(path):
                os.mkdir(path, 0o755)
            dir_times.append((path, m.mtime))
        elif m.isreg():
            src = tf.extractfile(m)
            assert src is not None
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
            with os.fdopen(fd, "wb") as out:
                shutil.copyfileobj(src, out, 1 << 20)
        elif m.issym():
            os.symlink(m.linkname, path)  # never followed by us: parents are lstat-checked
        elif m.islnk():
            target = os.path.join(root, _safe_relpath(m.linkname))
            _ensure_parent(root, _safe_relpath(m.linkname))
            if os.path.islink(os.path.dirname(target)):
                raise UnpackError(f"hard link {rel!r} goes through a symlink")
            os.link(target, path, follow_symlinks=False)
            continue  # shares the target's metadata
        elif m.ischr() or m.isblk() or m.isfifo():
            kind = stat.S_IFCHR if m.ischr() else stat.S_IFBLK if m.isblk() else stat.S_IFIFO
            try:
                os.mknod(path, kind | (m.mode & 0o7777), os.makedev(m.devmajor, m.devminor))
            except PermissionError:
                continue
        else:
            continue
        _apply_meta(path, m)
        if not m.isdir():
            os.utime(path, (m.mtime, m.mtime), follow_symlinks=False)
    for path, mtime in reversed(dir_times):
        os.utime(path, (mtime, mtime))


def unpack_layer(blob: str, dest: str, diff_id: str | None) -> str:
    """Extract `blob` into a fresh `dest`; verify and return its diffID.

    Extraction goes to a temporary sibling renamed into place at the end, so a crash never
    leaves a half-unpacked layer that later looks complete.
    """
    tmp = tempfile.mkdtemp(dir=os.path.dirname(dest), prefix=os.path.basename(dest) + ".tmp-")
    stream, proc = _open_uncompressed(blob)
    try:
        reader = _HashingReader(stream)
        with tarfile.open(fileobj=reader, mode="r|") as tf:  # type: ignore[call-overload]
            _extract(tf, tmp)
        got = reader.drain()
        if proc is not None and proc.wait() != 0:
            raise UnpackError(f"zstd failed to decompress {os.path.basename(blob)}")
        if diff_id is not None and got != diff_id:
            raise UnpackError(f"layer diffID mismatch: wanted {diff_id}, got {got}")
        os.chmod(tmp, 0o755)
        try:
            os.rename(tmp, dest)
        except OSError:
            if not os.path.isdir(dest):
                raise
            # another unpacker (an archive import) finished the same diffID first: keep theirs
        return got
    except (tarfile.TarError, OSError, EOFError) as e:
        raise UnpackError(f"unpacking layer {os.path.basename(blob)}: {e}") from e
    finally:
        stream.close()
        if proc is not None:
            proc.kill()
            proc.wait()
        _remove(tmp)
