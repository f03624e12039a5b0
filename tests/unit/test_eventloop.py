"""pyctl-controlplane runs on uvloop unless PYCTL_UVLOOP=0 asks for asyncio's own loop."""

from __future__ import annotations

import asyncio
import gc

import pytest
import uvloop

from controlplane import eventloop


async def _loop_type() -> type:
    return type(asyncio.get_running_loop())


_collect_less = eventloop.collect_less


@pytest.fixture(autouse=True)
def _collector_untouched(monkeypatch):
    """run() tunes the collector of the process it runs in: not this test process's."""
    calls: list[int] = []
    monkeypatch.setattr(eventloop, "collect_less", lambda: calls.append(1))
    return calls


def test_run_tunes_the_collector_of_its_process(_collector_untouched):
    eventloop.run(_loop_type())
    assert _collector_untouched == [1]


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
