"""Latency samples and the bounded load loop every benchmark drives its operations with."""

from __future__ import annotations

import asyncio
import math
import time
from dataclasses import dataclass, field
from typing import Awaitable, Callable


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0..100), nearest-rank: a value that was actually observed."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


@dataclass
class Samples:
    """Latencies (seconds) of `count` operations that took `wall` seconds in all."""

    latencies: list[float] = field(default_factory=list)
    wall: float = 0.0
    errors: int = 0
    busy: dict[str, float] = field(default_factory=dict)
    """Process name -> cores it kept busy while these operations ran (CPU s / wall s)."""

    @property
    def count(self) -> int:
        return len(self.latencies)

    @property
    def throughput(self) -> float:
        return self.count / self.wall if self.wall > 0 else math.nan

    @property
    def p50(self) -> float:
        return percentile(self.latencies, 50)

    @property
    def p99(self) -> float:
        return percentile(self.latencies, 99)


async def run_load(op: Callable[[int], Awaitable[object]], count: int, concurrency: int,
                   time_limit: float) -> Samples:
    """Run `op(i)` for i in range(count) with `concurrency` in flight, stopping early (with the
    samples so far) once `time_limit` seconds have passed. An op that raises counts as an error."""
    out = Samples()
    next_i = iter(range(count))
    deadline = time.monotonic() + time_limit

    async def worker() -> None:
        for i in next_i:
            if time.monotonic() > deadline:
                return
            t0 = time.perf_counter()
            try:
                await op(i)
            except Exception:  # noqa: BLE001 - counted and reported, the run goes on
                out.errors += 1
                continue
            out.latencies.append(time.perf_counter() - t0)

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    out.wall = time.perf_counter() - start
    return out


def ms(seconds: float) -> str:
    """Seconds as milliseconds for a table cell."""
    return "n/a" if math.isnan(seconds) else f"{seconds * 1000:.1f}"


def ratio(a: float, b: float) -> str:
    return "n/a" if not b or math.isnan(a) or math.isnan(b) else f"{a / b:.2f}×"
