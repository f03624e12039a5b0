"""pyctl-controlplane runs on uvloop unless PYCTL_UVLOOP=0 asks for asyncio's own loop."""

from __future__ import annotations

import asyncio
import gc
import os
import subprocess
import sys

import pytest
import uvloop

from controlplane import eventloop


async def _loop_type() -> type:
    return type(asyncio.get_running_loop())


_collect_less = eventloop.collect_less


@pytest.fixture(autouse=True)
def _collector_untouched(monkeypatch):
    """run() tunes the collector and malloc of the process it runs in: not this test process's."""
    calls: list[str] = []
    monkeypatch.setattr(eventloop, "collect_less", lambda: calls.append("collector"))
    monkeypatch.setattr(eventloop, "fewer_arenas", lambda: calls.append("arenas"))
    return calls


def test_run_tunes_the_collector_and_malloc_of_its_process(_collector_untouched):
    eventloop.run(_loop_type())
    assert _collector_untouched == ["collector", "arenas"]


# Eight threads allocate at once, then glibc's malloc_info lists the arenas (<heap nr=...>).
_ARENAS = """
import ctypes, sys, tempfile, threading
sys.path.insert(0, sys.argv[1])
if sys.argv[2] == "fewer":
    from controlplane import eventloop
    eventloop.fewer_arenas()
start = threading.Barrier(8)
def work():
    start.wait()
    keep = [bytearray(4096) for _ in range(2000)]
    start.wait()
threads = [threading.Thread(target=work) for _ in range(8)]
for t in threads: t.start()
for t in threads: t.join()
libc = ctypes.CDLL(None)
libc.fopen.restype = ctypes.c_void_p
with tempfile.NamedTemporaryFile() as f:
    fp = libc.fopen(f.name.encode(), b"w")
    libc.malloc_info(0, ctypes.c_void_p(fp))
    libc.fclose(ctypes.c_void_p(fp))
    print(open(f.name).read().count("<heap nr="))
"""


def _arenas(mode: str) -> int:
    env = {k: v for k, v in os.environ.items() if k != "MALLOC_ARENA_MAX"}
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    out = subprocess.run([sys.executable, "-c", _ARENAS, root, mode], env=env, check=True,
                         capture_output=True, text=True, timeout=60)
    return int(out.stdout)


@pytest.mark.skipif(not hasattr(os, "confstr") or "glibc" not in (os.confstr("CS_GNU_LIBC_VERSION") or ""),
                    reason="mallopt and malloc_info are glibc's")
def test_threads_that_allocate_at_once_share_at_most_two_malloc_arenas():
    assert _arenas("default") > eventloop.MALLOC_ARENAS  # glibc's default: an arena per thread
    assert _arenas("fewer") <= eventloop.MALLOC_ARENAS


def test_the_collector_runs_less_often_and_skips_start_up_objects():
    before = gc.get_threshold()
    try:
        _collect_less()
        assert gc.get_threshold() == eventloop.GC_THRESHOLD
        assert gc.get_freeze_count() > 1000  # this process's modules, at least
    finally:
        gc.set_threshold(*before)
        gc.unfreeze()


def test_uvloop_by_default(monkeypatch):
    monkeypatch.delenv(eventloop.ENV, raising=False)
    assert issubclass(eventloop.run(_loop_type()), uvloop.Loop)


@pytest.mark.parametrize("value", ["0", "false", "off", " No "])
def test_turned_off_runs_asyncios_loop(monkeypatch, value):
    monkeypatch.setenv(eventloop.ENV, value)
    loop_type = eventloop.run(_loop_type())
    assert issubclass(loop_type, asyncio.AbstractEventLoop) and not issubclass(loop_type, uvloop.Loop)
