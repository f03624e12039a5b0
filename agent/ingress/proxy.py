"""The node's ingress proxy: HAProxy in master-worker mode, configured from the IngressTable,
reloaded without dropping connections, restarted if it dies, stopped with the agent.

Why HAProxy (Debian's `haproxy`, an LTS branch): its master-worker mode reloads by re-executing
the master on SIGUSR2, which hands the listening sockets to the new workers (no SYN meets a
closed port) while the old workers finish the connections they hold (`hard-stop-after`
bounds how long); a configuration is checked with `haproxy -c` before it is put in force, so
a bad one never replaces a good one; a crt-list maps SNI names to certificates explicitly,
as Ingress TLS sections do; and a request whose endpoint refuses the connection is retried
on another (`retry-on conn-failure`), which keeps a rolling update from losing requests in
the moment before this node hears that a pod stopped. nginx would also reload gracefully,
but retries and SNI mapping take more configuration there.

Each new table is rendered (config.py) into a new generation directory, checked, and made
current by swapping the `current` symlink the master's command line names; then the master
is told to reload. Changes arriving faster than `min_interval` are coalesced. The master
daemonizes and writes a pidfile, so it outlives an agent restart (DESIGN §1: agents are
autonomous; the new agent adopts it) and `pyctl cluster down` finds it by the state
directory named on its command line. `stop()` ends it and its workers.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import pwd
import shutil
import signal
import time
from pathlib import Path

from pyctl_proto import node_pb2 as pb

from ..runtime.conmon import start_time, still_running
from ..wake import woken
from . import certs
from .config import Layout, Settings, cert_file, render

log = logging.getLogger(__name__)

KEEP_GENERATIONS = 2  # the current one and the one before


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def _write(path: Path, data: bytes, mode: int = 0o600) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as f:
        f.write(data)


class IngressProxy:
    """Keeps one HAProxy serving the latest IngressTable."""

    def __init__(self, state_dir: Path, settings: Settings = Settings(), *, netns: str | None = None,
                 binary: str = "haproxy", min_interval: float = 0.5, check_period: float = 2.0) -> None:
        """`state_dir`: its own directory (made 0700). `netns`: run HAProxy in that network
        namespace (by path) instead of the agent's own."""
        self.layout = Layout(state_dir)
        self.settings = settings
        self.netns = netns
        self.binary = binary
        self.min_interval = min_interval
        self.check_period = check_period
        self.table: pb.IngressTable | None = None
        self.applied: bytes | None = None  # the table in force (serialized), None: nothing yet
        self.generation = 0
        self.reloads = 0   # for tests and logs
        self.restarts = 0
        self._master: tuple[int, str | None] | None = None  # (pid, start time) last seen running ours
        self.problems: list[str] = []  # what the table in force left out, and why
        self._wake = asyncio.Event()
        self._last_apply = 0.0
        # Workers drop root once their ports are bound, when there is an account to drop to.
        self._user = "haproxy" if os.geteuid() == 0 and _has_user("haproxy") else ""

    @staticmethod
    def available(binary: str = "haproxy") -> bool:
        return shutil.which(binary) is not None

    def update(self, table: pb.IngressTable) -> None:
        self.table = table
        self._wake.set()

    # -- the process ---------------------------------------------------------------------------

    @property
    def _marker(self) -> str:
        """What only our HAProxy's command line holds: the configuration path it was started with."""
        return str(self.layout.of("current").config)

    def pid(self) -> int | None:
        """The master's pid, if it runs with our configuration.

        A reload (SIGUSR2) makes the master re-execute itself and rewrite its pidfile: for a
        moment (measured here: ~0.3 ms and ~2 ms of each reload) the pidfile is empty and the
        command line not yet ours. Neither may read as "not running", or a pass in that moment
        would start a second HAProxy. The re-executed master keeps its pid and start time, so
        the master last seen is recognised by those (and stands in for an empty pidfile)."""
        try:
            pid: int | None = int(self.layout.pidfile.read_text().split()[0])
        except (OSError, ValueError, IndexError):
            pid = self._master[0] if self._master else None
        if pid is None:
            return None
        if self._master is not None and self._master[0] == pid and still_running(*self._master):
            return pid
        if _alive(pid) and self._marker in _cmdline(pid):
            self._master = (pid, start_time(pid))
            return pid
        return None

    def _argv(self, *args: str) -> list[str]:
        prefix = ["nsenter", f"--net={self.netns}", "--"] if self.netns else []
        return [*prefix, self.binary, *args]

    async def _exec(self, argv: list[str], timeout: float = 30) -> tuple[int, str]:
        proc = await asyncio.create_subprocess_exec(*argv, stdin=asyncio.subprocess.DEVNULL,
                                                    stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
        try:
            out, _ = await asyncio.wait_for(proc.communicate(), timeout)
        except asyncio.TimeoutError:
            proc.kill()
            await proc.wait()
            return 1, f"{argv[0]} timed out after {timeout:g}s"
        return proc.returncode or 0, out.decode(errors="replace").strip()

    async def _start(self) -> bool:
        current = self.layout.of("current")
        code, out = await self._exec(self._argv("-W", "-D", "-p", str(self.layout.pidfile), "-f", str(current.config)))
        if code != 0:
            log.warning("ingress proxy: haproxy did not start: %s", out)
            return False
        log.info("ingress proxy: haproxy started (pid %s)", self.pid())
        return True

    def _reload(self, pid: int) -> None:
        os.kill(pid, signal.SIGUSR2)  # the master re-executes itself with the new configuration
        self.reloads += 1

    # -- configuration -------------------------------------------------------------------------

    def _prepare(self) -> None:
        self.layout.root.mkdir(parents=True, exist_ok=True)
        os.chmod(self.layout.root, 0o700)
        if not self.layout.default_cert.exists():
            _write(self.layout.default_cert, certs.self_signed())

    async def _write_generation(self, table: pb.IngressTable) -> Layout | None:
        """The table's files in a new generation directory, checked by haproxy -c; None if refused."""
        self.generation += 1
        gen = self.layout.of(f"gen-{os.getpid()}-{self.generation}")
        shutil.rmtree(gen.dir, ignore_errors=True)
        gen.certs.mkdir(parents=True, mode=0o700)
        usable, problems = [], []
        for i, c in enumerate(table.certificates):
            why = certs.problem(c.cert_pem, c.key_pem)
            if why is not None:
                problems.append(f"TLS secret {c.name}: {why}")
                continue
            pem = c.cert_pem.rstrip(b"\n") + b"\n" + c.key_pem.rstrip(b"\n") + b"\n"
            _write(gen.certs / cert_file(i), pem)
            usable.append((i, c))
        config, crt_list, left_out = render(table, gen, self.settings, usable, self._user)
        _write(gen.config, config.encode(), 0o600)
        _write(gen.crt_list, crt_list.encode(), 0o600)
        code, out = await self._exec([self.binary, "-c", "-q", "-f", str(gen.config)])
        if code != 0:
            log.error("ingress proxy: the new configuration was refused, the old one stays: %s", out)
            shutil.rmtree(gen.dir, ignore_errors=True)
            return None
        self.problems = problems + left_out
        for p in self.problems:
            log.warning("ingress proxy: %s", p)
        return gen

    def _make_current(self, gen: Layout) -> None:
        link = self.layout.root / "current"
        tmp = self.layout.root / "current.new"
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        tmp.symlink_to(gen.generation)
        tmp.replace(link)  # atomic: the master reads either the old or the new generation
        gens = sorted((d for d in self.layout.root.iterdir() if d.is_dir() and d.name.startswith("gen-")
                       and not d.is_symlink()), key=lambda d: d.stat().st_mtime)
        for old in gens[:-KEEP_GENERATIONS]:
            if old.name != gen.generation:
                shutil.rmtree(old, ignore_errors=True)

    async def sync(self) -> None:
        """Put the latest table in force and make sure HAProxy runs it."""
        table = self.table
        if table is None:
            return  # no table yet: nothing to serve
        wanted = table.SerializeToString(deterministic=True)
        pid = self.pid()
        if wanted != self.applied or pid is None:
            self._prepare()
            if wanted != self.applied or not (self.layout.root / "current").exists():
                gen = await self._write_generation(table)
                if gen is None:
                    self.applied = wanted  # refused: do not try the same table again
                    return
                self._make_current(gen)
            if pid is not None:
                self._reload(pid)
            else:
                if self.applied is not None:
                    self.restarts += 1
                    log.warning("ingress proxy: haproxy is not running; starting it again")
                if not await self._start():
                    return  # applied stays unset: the next pass tries again
            self.applied = wanted
            self._last_apply = time.monotonic()

    async def run(self) -> None:
        """Apply every table (changes coalesced to one reload per `min_interval`) and restart
        HAProxy if it dies, until cancelled; the owner calls `stop()` afterwards."""
        while True:
            await woken(self._wake, self.check_period)
            wait = self._last_apply + self.min_interval - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            self._wake.clear()
            try:
                await self.sync()
            except OSError as exc:
                log.warning("ingress proxy: %s", exc)

    async def stop(self, timeout: float = 5.0) -> None:
        """End HAProxy and its workers (and any of ours a crash left behind)."""
        pid = self.pid()
        if pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
            deadline = time.monotonic() + timeout
            while _alive(pid) and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
        for entry in Path("/proc").iterdir():  # workers of an older generation, a master that hung
            if entry.name.isdigit() and int(entry.name) != os.getpid() and self._marker in _cmdline(int(entry.name)):
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(int(entry.name), signal.SIGKILL)
        with contextlib.suppress(FileNotFoundError):
            self.layout.pidfile.unlink()
        self.applied = None


def _has_user(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True
