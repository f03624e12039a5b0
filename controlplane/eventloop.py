"""Which event loop the control plane runs on: uvloop by default, asyncio's own on request.

Profiles of a busy control plane spend a third to a half of their samples in the event
loop, aiohttp's transports and sockets; uvloop runs that part in C. grpc.aio (node gateway,
the etcd client) and aiohttp work on it unchanged. PYCTL_UVLOOP=0 in the environment
selects the standard library loop, e.g. to compare or to rule uvloop out when debugging.

And how often its garbage collector runs (`collect_less`, GC_THRESHOLD), and how many malloc
arenas it may have (`fewer_arenas`, MALLOC_ARENAS).

Only for processes that start no children: uvloop spawns with a real fork(), which runs
gRPC's fork handlers while gRPC threads are busy, and such children were seen to die of
SIGSEGV before exec; asyncio's loop spawns with vfork and is safe. The control plane spawns
only its components process, with subprocess.Popen (vfork), never through the loop; the agent
(runc, conmon, CNI plugins beside its gRPC stream) stays on asyncio's loop.
"""

from __future__ import annotations

import asyncio
import ctypes
import gc
import os
from typing import Any, Callable, Coroutine

ENV = "PYCTL_UVLOOP"
GC_THRESHOLD = (20_000, 20, 50)
"""Allocations between young collections, and young (middle) collections between older ones.
Python's default (700, 10, 10) runs a full collection every 70,000 container allocations net;
a create allocates a few hundred, and each full collection walks every live object of the
watch cache and the informers. Profiled under creates at c=64, collections (samples at
whichever line allocated, e.g. uuid4, create_future) were ~10% of the API server's CPU. Runs
of 3,000 creates, two rounds each: API CPU per create 0.280-0.310 ms with the default (four
rounds), 0.257/0.270 with this threshold and the start-up objects frozen; creates/s
3,117-3,441 -> 3,739/3,595; (50,000, 50, 100) did no better. Nearly all garbage is
freed by reference counting the moment it is dropped, so memory does not grow with it: the
collector is only for cycles."""


def collect_less() -> None:
    """Freeze what exists now (modules, compiled schemas: never garbage) out of the collector's
    walks, and collect young objects less often (GC_THRESHOLD)."""
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLD)


MALLOC_ARENAS = 2
"""glibc's malloc gives threads that allocate at once arenas of their own, up to 8 per core,
and memory freed in one arena serves only that arena: gRPC's threads (the etcd client, the
node gateway) and the event loop's each hold their own high-water mark. The scheduler
benchmark's control plane with 5,000 pods, two runs each: 482.5 / 482.5 MiB with the default,
476.1 / 470.0 with at most two arenas, pods bound per second the same (393 / 406, 384 / 409).
MALLOC_ARENA_MAX in the environment, when set, is left to decide."""

_M_ARENA_MAX = -8  # mallopt's parameter number, from glibc's malloc.h


def fewer_arenas() -> None:
    """At most MALLOC_ARENAS malloc arenas from now on (glibc's mallopt); nothing where the C
    library has no mallopt (musl) or the environment says otherwise."""
    if os.environ.get("MALLOC_ARENA_MAX"):
        return
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return
    mallopt(_M_ARENA_MAX, MALLOC_ARENAS)


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
    """asyncio.run(main) on the loop loop_factory chooses, collecting less (collect_less) and
    with fewer malloc arenas (fewer_arenas: before the loop and gRPC start their threads)."""
    collect_less()
    fewer_arenas()
    with asyncio.Runner(loop_factory=loop_factory()) as runner:
        return runner.run(main)
