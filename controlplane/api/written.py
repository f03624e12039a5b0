"""The revisions an API server's worker processes have answered writes at, in memory they share.

With `--api-workers N` a client's next request may reach another worker than the one that
answered its write, and that worker's watch cache may be a moment behind. Each worker records
the revision of every write it answered in a slot of its own in a shared memory file (a memfd
the parent makes and hands to each worker); before serving a request a worker waits, bounded,
until its cache has reached the highest slot (consistency.py). So whichever worker a client
reaches, it reads its own writes, as with one process, with no etcd round trip per read.

One writer per slot (its worker), aligned 8-byte stores, readers take the maximum: no lock.
A restarted worker takes over its slot as it was; slots only grow.
"""

from __future__ import annotations

import ctypes
import mmap
import os

SLOT = ctypes.sizeof(ctypes.c_int64)


def create(workers: int) -> int:
    """A memfd of `workers` zeroed slots (inheritable, for the workers), its descriptor."""
    fd = os.memfd_create("pyctl-api-written", 0)
    os.ftruncate(fd, SLOT * workers)
    os.set_inheritable(fd, True)
    return fd


class WrittenRevisions:
    """This worker's view of the shared slots: `publish` its own, `highest` of all."""

    def __init__(self, fd: int, workers: int, index: int) -> None:
        if not 0 <= index < workers:
            raise ValueError(f"worker {index} of {workers}")
        self._map = mmap.mmap(fd, SLOT * workers)  # MAP_SHARED: every worker sees every store
        self._slots = (ctypes.c_int64 * workers).from_buffer(self._map)
        self.index = index

    def publish(self, rev: int) -> None:
        """This worker answered a write committed at `rev` (its cache has seen it, or will)."""
        slots = self._slots
        if rev > slots[self.index]:
            slots[self.index] = rev

    def highest(self) -> int:
        return max(self._slots)
