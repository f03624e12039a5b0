"""Starting a created container through runc's exec fifo (agent/runtime/conmon.begin), against
the timings runc's init can have: at the fifo already (the e2e tests in test_runtime.py start
real runc containers this way), not there yet, dead before writing, or alive and never writing.

runc cannot be made to hold its init back at a chosen point, so here a plain process plays the
init's part of the protocol: open the fifo for writing (which waits for a reader), write one
byte, go on. The fifo, the processes and the agent's code are real."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from agent.runtime import conmon

CID = "pyctl-test-c"


def runc_at(tmp_path: Path) -> tuple[conmon.Runc, Path]:
    paths = conmon.Paths(tmp_path / "runc", tmp_path / "exits", tmp_path / "sockets")
    (paths.runc_root / CID).mkdir(parents=True)
    fifo = paths.runc_root / CID / conmon.EXEC_FIFO
    os.mkfifo(fifo, 0o622)
    return conmon.Runc(paths, binary="/bin/false"), fifo  # any `runc start` would fail


def init(fifo: Path, *, wait: float, write: bool, then: float = 0) -> subprocess.Popen:
    """A stand-in for runc's init: after `wait` s, open the fifo for writing and (if `write`)
    write its byte; then live `then` s more."""
    byte = "os.write(fd, b'0'); " if write else ""
    code = (f"import os, time; time.sleep({wait}); fd = os.open({str(fifo)!r}, os.O_WRONLY); "
            f"{byte}os.close(fd); time.sleep({then})")
    return subprocess.Popen([sys.executable, "-c", code])


@pytest.fixture
def procs():
    started: list[subprocess.Popen] = []
    yield started
    for p in started:
        p.kill()
        p.wait()


async def test_an_init_that_reaches_the_fifo_late_is_still_started(tmp_path: Path, procs) -> None:
    runc, fifo = runc_at(tmp_path)
    p = init(fifo, wait=0.4, write=True, then=5)  # several of begin's 100 ms looks go by first
    procs.append(p)
    await conmon.begin(runc, CID, p.pid, timeout=10)
    assert not fifo.exists()  # as `runc start` leaves it: runc then reports the container running
    assert p.poll() is None


async def test_an_init_that_dies_before_writing_is_a_start_error(tmp_path: Path, procs) -> None:
    runc, fifo = runc_at(tmp_path)
    never = init(fifo, wait=0, write=False)  # opens and closes without its byte, and exits
    procs.append(never)
    started = time.monotonic()
    with pytest.raises(conmon.RuntimeCommandError, match="already dead"):
        await conmon.begin(runc, CID, never.pid, timeout=10)
    assert time.monotonic() - started < 5

    gone = subprocess.Popen([sys.executable, "-c", "pass"])  # dies without ever opening it
    procs.append(gone)
    gone.wait()
    with pytest.raises(conmon.RuntimeCommandError, match="already dead"):
        await conmon.begin(runc, CID, gone.pid, timeout=10)


async def test_an_init_that_never_takes_the_start_times_out(tmp_path: Path, procs) -> None:
    runc, fifo = runc_at(tmp_path)
    stuck = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    procs.append(stuck)
    with pytest.raises(conmon.RuntimeCommandError, match="did not take the start within 0.3s"):
        await conmon.begin(runc, CID, stuck.pid, timeout=0.3)


async def test_without_the_fifo_it_is_runc_start_and_its_answer(tmp_path: Path) -> None:
    runc, fifo = runc_at(tmp_path)
    fifo.unlink()
    with pytest.raises(conmon.RuntimeCommandError, match="start"):  # /bin/false: runc start failed
        await conmon.begin(runc, CID, os.getpid(), timeout=1)
