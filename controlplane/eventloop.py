"""Which event loop the control plane runs on: uvloop by default, asyncio's own on request.

Profiles of a busy control plane spend a third to a half of their samples in the event
loop, aiohttp's transports and sockets; uvloop runs that part in C. grpc.aio (node gateway,
the etcd client) and aiohttp work on it unchanged. PYCTL_UVLOOP=0 in the environment
selects the standard library loop, e.g. to compare or to rule uvloop out when debugging.

Only for processes that start no children: uvloop spawns with a real fork(), which runs
gRPC's fork handlers while gRPC threads are busy, and such children were seen to die of
SIGSEGV before exec; asyncio's loop spawns with vfork and is safe. The control plane spawns
only its components process, with subprocess.Popen (vfork), never through the loop; the agent
(runc, conmon, CNI plugins beside its gRPC stream) stays on asyncio's loop.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any, Callable, Coroutine

ENV = "PYCTL_UVLOOP"


def loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's loop constructor; None (asyncio's default) when turned off or not installed."""
    if os.environ.get(ENV, "1").strip().lower() in ("0", "false", "no", "off"):
        return None
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


def run(main: Coroutine[Any, Any, Any]) -> Any:
    """asyncio.run(main) on the loop loop_factory chooses."""
    with asyncio.Runner(loop_factory=loop_factory()) as runner:
        return runner.run(main)
