"""One container's lifecycle through conmon + runc, and what is left of it on disk.

conmon (API version 1) runs `runc create` for us, double-forks so it outlives the agent,
holds the container's stdio, writes the CRI "k8s-file" log, and writes the exit code to
`<exit-dir>/<id>` when the container ends. We learn the container's PID through conmon's
sync pipe (`create`), then start it as `runc start` would (`begin`), possibly after other
work. Every runc call uses the agent's own `--root`, so `runc list` there shows pyctl's
containers and nothing else. Stop is SIGTERM, a grace period, then SIGKILL; `runc delete`
after the process is gone (a forced delete of a running container waits 100 ms by itself).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import stat
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

RUNC = "/usr/sbin/runc"
CONMON = "/usr/bin/conmon"
CGROUP_V1 = Path("/sys/fs/cgroup")


class RuntimeCommandError(RuntimeError):
    """runc or conmon failed; the message is theirs."""


@dataclass(frozen=True)
class Paths:
    """Where one node's runtime state lives."""

    runc_root: Path
    exit_dir: Path
    socket_dir: Path

    def ensure(self) -> None:
        for d in (self.runc_root, self.exit_dir, self.socket_dir):
            d.mkdir(parents=True, exist_ok=True)


async def _run(*argv: str, timeout: float = 30, check: bool = True) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), timeout)
    except asyncio.TimeoutError:
        proc.kill()
        await proc.wait()
        raise
    text = out.decode(errors="replace").strip()
    if check and proc.returncode != 0:
        raise RuntimeCommandError(f"{' '.join(argv[:4])}...: {text}")
    return proc.returncode or 0, text


class Runc:
    """runc with the agent's state root."""

    def __init__(self, paths: Paths, binary: str = RUNC) -> None:
        self.paths, self.binary = paths, binary

    def _argv(self, *args: str) -> list[str]:
        return [self.binary, "--root", str(self.paths.runc_root), *args]

    async def state(self, cid: str) -> dict[str, Any] | None:
        rc, out = await _run(*self._argv("state", cid), check=False)
        return json.loads(out) if rc == 0 else None

    async def list(self) -> list[dict[str, Any]]:
        _, out = await _run(*self._argv("list", "--format", "json"))
        return json.loads(out or "null") or []

    async def kill(self, cid: str, sig: signal.Signals, all_procs: bool = False) -> None:
        args = ["kill"] + (["--all"] if all_procs else []) + [cid, str(int(sig))]
        await _run(*self._argv(*args), check=False)

    async def delete(self, cid: str) -> None:
        # No `runc state` first: deleting a container runc does not know fails, harmlessly.
        await _run(*self._argv("delete", "--force", cid), check=False)


async def create(runc: Runc, cid: str, name: str, bundle: Path, log_path: Path,
                 timeout: float = 30) -> int:
    """Create the container under conmon (`runc create`: namespaces, mounts, cgroups made, the
    process held before the image's entrypoint until `begin`), and return its PID."""
    paths = runc.paths
    paths.ensure()
    log_path.parent.mkdir(parents=True, exist_ok=True)
    (paths.exit_dir / cid).unlink(missing_ok=True)
    sync_r, sync_w = os.pipe()
    argv = [
        CONMON, "--api-version", "1", "-c", cid, "-u", cid, "-n", name,
        "-r", runc.binary, "--runtime-arg", f"--root={paths.runc_root}",
        "-b", str(bundle), "-p", str(bundle / "pidfile"), "-P", str(bundle / "conmon.pid"),
        "-l", f"k8s-file:{log_path}", "--exit-dir", str(paths.exit_dir),
        "--socket-dir-path", str(paths.socket_dir), "-0", str(bundle),
        "--log-level", "error", "--no-sync-log",  # else conmon sync(2)s every disk on exit
    ]
    env = dict(os.environ, _OCI_SYNCPIPE=str(sync_w))
    # conmon's forked monitor inherits stderr: a file, never a pipe we would wait on.
    errlog = bundle / "conmon.err"
    try:
        with open(errlog, "wb") as err_f:
            proc = await asyncio.create_subprocess_exec(
                *argv, env=env, pass_fds=(sync_w,), start_new_session=True, cwd=str(bundle),
                stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL,
                stderr=err_f)
    finally:
        os.close(sync_w)  # so we see EOF if conmon dies before reporting
    try:
        line = await asyncio.wait_for(_read_line(sync_r), timeout)
    finally:
        os.close(sync_r)
    await proc.wait()  # the first conmon exits once it has forked
    try:
        msg = json.loads(line) if line else {}
    except ValueError:
        msg = {}
    pid = int(msg.get("data", -1))
    if pid <= 0:
        detail = msg.get("message") or _tail(errlog) or "no pid from conmon"
        await runc.delete(cid)
        raise RuntimeCommandError(f"create {name}: {detail}")
    return pid


EXEC_FIFO = "exec.fifo"
"""After `runc create`, the container's init waits to write one byte into this fifo in runc's
state directory; `runc start` is nothing but reading that byte and removing the fifo."""


async def begin(runc: Runc, cid: str, pid: int, timeout: float = 30) -> None:
    """Let a created container's process (`pid`) run the image's entrypoint.

    We do what `runc start` does (read the byte runc's init waits to write into its exec fifo,
    then remove the fifo, which is how runc tells "created" from "running"): 0.5 ms instead of
    a 5-6 ms Go process on every container start. Where that fifo is not (another runtime's
    layout) it is `runc start` itself."""
    fifo = runc.paths.runc_root / cid / EXEC_FIFO
    try:
        fd = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        await _run(*runc._argv("start", cid))
        return
    try:
        if not stat.S_ISFIFO(os.fstat(fd).st_mode):
            raise RuntimeCommandError(f"start {cid}: {fifo} is not a fifo")
        await _read_start_byte(cid, fd, pid, timeout)
    finally:
        os.close(fd)
    fifo.unlink(missing_ok=True)


async def _read_start_byte(cid: str, fd: int, pid: int, timeout: float) -> None:
    """Read the byte runc's init writes. A reader opened without blocking lets the init's open
    for writing through; until it writes, the fifo is not readable (and reads as empty while the
    init has not opened it yet). An init that died before writing never makes it readable, so,
    as runc does, look at the process every 100 ms."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        await _readable(fd, 0.1)
        try:
            data: bytes | None = os.read(fd, 16)
        except BlockingIOError:  # the init has it open and has not written yet
            data = None
        if data:
            return
        if not _alive(pid):
            raise RuntimeCommandError(f"start {cid}: the container's process is already dead")
        if loop.time() >= deadline:
            raise RuntimeCommandError(f"start {cid}: its process did not take the start within {timeout:g}s")
        if data == b"":  # no writer: not there yet, or it closed without writing (then it is dying)
            await asyncio.sleep(0.01)


def _tail(path: Path) -> str:
    try:
        return path.read_text(errors="replace").strip()[-2000:]
    except OSError:
        return ""


async def _read_line(fd: int) -> str:
    """One line from conmon's sync pipe, read on the event loop: `runc create` takes a while
    under load, and a blocking read would hold one of the few default-executor threads that
    every pod start also needs (netns, overlay mount), so starts would queue behind it."""
    os.set_blocking(fd, False)
    buf = b""
    while not buf.endswith(b"\n"):
        await _readable(fd)
        try:
            chunk = os.read(fd, 4096)
        except BlockingIOError:
            continue
        if not chunk:
            break
        buf += chunk
    return buf.decode(errors="replace").strip()


async def _readable(fd: int, timeout: float | None = None) -> None:
    """Until `fd` (non-blocking) is readable, waited for on the event loop; after `timeout`
    seconds (None: no limit) this returns all the same, and the caller's read tells."""
    loop = asyncio.get_running_loop()
    readable: asyncio.Future[None] = loop.create_future()

    def ready() -> None:
        if not readable.done():
            readable.set_result(None)

    loop.add_reader(fd, ready)
    try:
        await asyncio.wait_for(readable, timeout)
    except asyncio.TimeoutError:
        pass
    finally:
        loop.remove_reader(fd)


def exit_code(paths: Paths, cid: str) -> tuple[int, float] | None:
    """(exit code, when) from conmon's exit file, None while the container runs."""
    f = paths.exit_dir / cid
    try:
        text = f.read_text().strip()
        return int(text), f.stat().st_mtime
    except (OSError, ValueError):
        return None


def oom_killed(bundle: Path, cgroups_path: str) -> bool:
    """conmon's `oom` file, or the memory cgroup's oom_kill counter (read before delete)."""
    if (bundle / "oom").exists():
        return True
    try:
        text = (CGROUP_V1 / "memory" / cgroups_path.lstrip("/") / "memory.oom_control").read_text()
    except OSError:
        return False
    for line in text.splitlines():
        key, _, value = line.partition(" ")
        if key == "oom_kill" and value.strip() not in ("", "0"):
            return True
    return False


def conmon_pid(bundle: Path) -> int | None:
    """The PID of the container's conmon while it lives (an unreaped zombie counts as gone:
    conmon's parent is init, which may reap it late)."""
    try:
        pid = int((bundle / "conmon.pid").read_text().strip())
    except (OSError, ValueError):
        return None
    return pid if _alive(pid) else None


def _stat(pid: int) -> list[str]:
    """/proc/PID/stat from field 3 (state) on; [] when there is no such process."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return []


def _alive(pid: int) -> bool:
    stat = _stat(pid)
    return bool(stat) and stat[0] not in ("Z", "X")


def start_time(pid: int) -> str | None:
    """The process's start time (field 22 of /proc/PID/stat), which tells it from a later
    process given the same pid; None when it is gone."""
    stat = _stat(pid)
    return stat[19] if len(stat) > 19 else None


def still_running(pid: int | None, started: str | None) -> bool:
    """Whether the process `pid`, started at `started`, still runs: same pid, same start time
    (an exec keeps it; a later process given the pid has another), neither zombie nor dead. For
    a container init it is the test `runc state` makes, without running runc (only for a
    container that was started; pyctl never pauses one)."""
    if not pid or not started:
        return False
    stat = _stat(pid)
    return len(stat) > 19 and stat[0] not in ("Z", "X") and stat[19] == started


async def stop(runc: Runc, cid: str, grace: float, running: bool = False) -> None:
    """SIGTERM, wait up to `grace` seconds for the exit, then SIGKILL and wait again.
    `running`: the caller knows the container runs (`still_running`), so no `runc state`."""
    if exit_code(runc.paths, cid) is not None:
        return
    if not running:
        st = await runc.state(cid)
        if st is None or st.get("status") not in ("running", "created", "paused"):
            return
    if grace > 0:
        await runc.kill(cid, signal.SIGTERM)
        if await _wait_exit(runc, cid, grace):
            return
    await runc.kill(cid, signal.SIGKILL, all_procs=True)
    await _wait_exit(runc, cid, 10)


async def _wait_exit(runc: Runc, cid: str, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if exit_code(runc.paths, cid) is not None:
            return True
        await asyncio.sleep(0.05)
    return False


async def remove(runc: Runc, cid: str, bundle: Path) -> None:
    """Delete the runc container and wait (bounded) for its conmon to exit."""
    await runc.delete(cid)
    pid = conmon_pid(bundle)
    deadline = time.monotonic() + 5
    while pid is not None and _alive(pid) and time.monotonic() < deadline:
        await asyncio.sleep(0.01)
    if pid is not None and _alive(pid):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    (runc.paths.exit_dir / cid).unlink(missing_ok=True)
    # conmon's attach-socket symlink (<socket-dir>/<cuuid> -> bundle) outlives it otherwise.
    (runc.paths.socket_dir / cid).unlink(missing_ok=True)
