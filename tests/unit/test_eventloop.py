"""pyctl-controlplane runs on uvloop unless PYCTL_UVLOOP=0 asks for asyncio's own loop."""

from __future__ import annotations

import asyncio

import pytest
import uvloop

from controlplane import eventloop


async def _loop_type() -> type:
    return type(asyncio.get_running_loop())


def test_uvloop_by_default(monkeypatch):
    monkeypatch.delenv(eventloop.ENV, raising=False)
    assert issubclass(eventloop.run(_loop_type()), uvloop.Loop)


@pytest.mark.parametrize("value", ["0", "false", "off", " No "])
def test_turned_off_runs_asyncios_loop(monkeypatch, value):
    monkeypatch.setenv(eventloop.ENV, value)
    loop_type = eventloop.run(_loop_type())
    assert issubclass(loop_type, asyncio.AbstractEventLoop) and not issubclass(loop_type, uvloop.Loop)
