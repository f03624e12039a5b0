"""Per-pod namespaces the agent creates and owns: network, IPC and UTS, bind-mounted as files.

A pod's sandbox is pause-less: a short-lived thread unshare(2)s fresh net/ipc/uts namespaces, brings
`lo` up and pins them by bind-mounting its nsfs files under `<state>/ns/<uid>/`; every container of
the pod joins them by path in its config.json. Only files under our own directory are ever unmounted, so a
namespace the agent did not create is never touched.
"""

from __future__ import annotations

import asyncio
import ctypes
import fcntl
import os
import shutil
import socket
import struct
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

KINDS = ("net", "ipc", "uts")
CLONE_NEWNET = 0x40000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUTS = 0x04000000
MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_BIND = 0x2, 0x4, 0x8, 0x1000
SIOCGIFFLAGS, SIOCSIFFLAGS, IFF_UP = 0x8913, 0x8914, 0x1
IP_FREEBIND = 15  # bind before the address exists (a pod bridge gets its address with the first pod)


@dataclass(frozen=True)
class PodNamespaces:
    """The pinned namespace files of one pod."""

    dir: Path

    def path(self, kind: str) -> Path:
        return self.dir / kind

    @property
    def net(self) -> Path:
        return self.path("net")

    def exists(self) -> bool:
        return all(_pinned(self.path(k)) for k in KINDS)


def _pinned(path: Path) -> bool:
    """Whether a namespace is bind-mounted on `path`: its file is then nsfs's, a device other
    than its directory's. Two stat calls, where reading /proc/self/mountinfo costs as much as
    the node has mounts (a few per pod)."""
    try:
        return path.stat().st_dev != path.parent.stat().st_dev
    except OSError:
        return False


def is_mountpoint(path: Path) -> bool:
    """True when `path` is a mount target (nsfs bind mounts are not seen by os.path.ismount)."""
    target = str(path)
    try:
        with open("/proc/self/mountinfo") as f:
            return any(line.split()[4] == target for line in f)
    except OSError:
        return False


def mounts_under(root: Path) -> list[str]:
    """Mount targets at or below `root`, deepest first (the order to unmount them)."""
    prefix = str(root).rstrip("/")
    with open("/proc/self/mountinfo") as f:
        targets = [line.split()[4] for line in f]
    hits = [t for t in targets if t == prefix or t.startswith(prefix + "/")]
    return sorted(set(hits), key=len, reverse=True)


_LIBC = ctypes.CDLL(None, use_errno=True)
_MNT_DETACH = 2


def unmount(target: str, lazy: bool = True) -> bool:
    """umount2(2) of `target` (detached when `lazy`, as `umount -l`); False if it failed.
    A syscall, not the `umount` binary: a pod's teardown unmounts four of these, and a
    process per unmount was a good share of the teardown's CPU."""
    return _LIBC.umount2(os.fsencode(target), _MNT_DETACH if lazy else 0) == 0


def mount(source: str, target: str, fstype: str, options: str = "", flags: int = 0) -> None:
    """mount(2); OSError when it fails. A syscall, not the `mount` binary (a process per pod)."""
    if _LIBC.mount(os.fsencode(source), os.fsencode(target), os.fsencode(fstype), flags,
                   os.fsencode(options) if options else None) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"mount {fstype} on {target}: {os.strerror(err)}")


def create(dir: Path, hostname: str) -> PodNamespaces:
    """Create and pin net/ipc/uts namespaces under `dir`; idempotent."""
    ns = PodNamespaces(dir)
    if ns.exists():
        return ns
    delete(dir)  # a half-made sandbox from a crash: start clean
    dir.mkdir(parents=True, exist_ok=True)
    for kind in KINDS:
        ns.path(kind).touch()
    _in_thread(_unshare_and_pin, ns, hostname)
    return ns


def _unshare_and_pin(ns: PodNamespaces, hostname: str) -> None:
    """What `unshare --net=F --ipc=F --uts=F hostname H` did, as syscalls in this (fresh)
    thread: net, IPC and UTS namespaces are per thread, the mount table is the process's."""
    if _LIBC.unshare(CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS) != 0:
        raise OSError(ctypes.get_errno(), "unshare(net, ipc, uts)")
    name = hostname.encode()
    # Set the hostname once inside the new UTS namespace; containers share it.
    if _LIBC.sethostname(name, len(name)) != 0:
        raise OSError(ctypes.get_errno(), f"sethostname {hostname!r}")
    _loopback_up()
    own = f"/proc/self/task/{threading.get_native_id()}/ns"
    for kind in KINDS:
        mount(f"{own}/{kind}", str(ns.path(kind)), "none", flags=MS_BIND)


def _loopback_up() -> None:
    """`lo` up in this thread's network namespace (the kernel gives it 127.0.0.1 and ::1): what
    the CNI loopback plugin does, by one ioctl instead of a plugin process per pod."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:  # a socket of this thread's netns
        ifreq = fcntl.ioctl(s, SIOCGIFFLAGS, struct.pack("16sH22x", b"lo", 0))
        flags = struct.unpack("16sH22x", ifreq)[1]
        fcntl.ioctl(s, SIOCSIFFLAGS, struct.pack("16sH22x", b"lo", flags | IFF_UP))


def _in_thread(fn: Callable[..., None], *args: Any) -> None:
    """Run `fn` in a thread of its own that ends with it, so whatever namespace it entered
    ends with it too; its exception is raised here."""
    result: list[BaseException] = []

    def run() -> None:
        try:
            fn(*args)
        except BaseException as exc:  # handed to the caller
            result.append(exc)

    t = threading.Thread(target=run, name="netns")
    t.start()
    t.join()
    if result:
        raise result[0]


def delete(dir: Path) -> None:
    """Unmount and remove a pod's namespace files; nothing is an error when already gone."""
    if not dir.exists():
        return
    for target in mounts_under(dir):
        unmount(target)
    shutil.rmtree(dir, ignore_errors=True)


async def run_in_netns(netns: Path, *argv: str, timeout: float = 30) -> tuple[int, str, str]:
    """Run a command in a pod's network namespace with `nsenter --net=` (never `ip netns exec`,
    which remounts /sys and hides the cgroup v1 hierarchies from what it runs)."""
    proc = await asyncio.create_subprocess_exec(
        "nsenter", f"--net={netns}", "--", *argv,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout)
    except asyncio.TimeoutError:
        proc.kill()
        await proc.wait()
        raise
    return proc.returncode or 0, out.decode(errors="replace"), err.decode(errors="replace")


def setns_fd(netns: Path) -> int:
    """Open a namespace file for os.setns (the caller closes it)."""
    return os.open(netns, os.O_RDONLY | os.O_CLOEXEC)


def bound_socket(kind: int, address: str, port: int, netns: str | None) -> socket.socket:
    """A bound (and, for TCP, listening) non-blocking socket, made in the network namespace
    `netns` when given: a socket belongs to the namespace of the thread that creates it, so a
    short-lived thread enters it (setns is per thread)."""
    result: list[socket.socket | BaseException] = []

    def make() -> None:
        try:
            if netns:  # os.setns only exists from Python 3.12: call libc's
                with open(netns) as f:
                    if _LIBC.setns(f.fileno(), CLONE_NEWNET) != 0:
                        raise OSError(ctypes.get_errno(), f"setns {netns}")
            s = socket.socket(socket.AF_INET, kind)
            s.setsockopt(socket.SOL_IP, IP_FREEBIND, 1)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind((address, port))
            if kind == socket.SOCK_STREAM:
                s.listen(64)
            s.setblocking(False)
            result.append(s)
        except BaseException as exc:  # handed to the caller
            result.append(exc)

    t = threading.Thread(target=make, name="netns-socket")  # a fresh thread: it exits in the netns
    t.start()
    t.join()
    if isinstance(result[0], BaseException):
        raise result[0]
    return result[0]
