"""Reading CPU time and memory working set from cgroups, v1 (hybrid, as on these machines) or v2.

What the kubelet (cAdvisor) reads, and how it derives the working set:

* CPU: cumulative nanoseconds, `cpuacct.usage` (v1) or `usage_usec` of `cpu.stat` (v2).
* Memory working set: usage less the inactive file cache, never below zero:
  v1 `memory.usage_in_bytes` - `total_inactive_file` of `memory.stat`;
  v2 `memory.current` - `inactive_file` of `memory.stat`.

The node is the root cgroup. A v2 root has no `memory.current`; it is then MemTotal less
MemAvailable from /proc/meminfo, which is what the kernel counts as in use.

`Cgroups` finds the mounts once (from /proc/self/mountinfo) and reads a cgroup by its path
relative to the hierarchy root (runc's `cgroupsPath`, e.g. `/pyctl/pod<uid>/<cid>`). A cgroup
that is gone (a container that just stopped) reads as None.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .base import Counters

MOUNTINFO = Path("/proc/self/mountinfo")
MEMINFO = Path("/proc/meminfo")


def _stat(path: Path) -> dict[str, int]:
    out = {}
    for line in path.read_text().splitlines():
        key, _, value = line.partition(" ")
        if value.strip().isdigit():
            out[key] = int(value)
    return out


def _read_int(path: Path) -> int:
    return int(path.read_text().strip())


def meminfo_in_use(meminfo: Path = MEMINFO) -> int:
    kb = {}
    for line in meminfo.read_text().splitlines():
        key, _, rest = line.partition(":")
        fields = rest.split()
        if fields and fields[0].isdigit():
            kb[key] = int(fields[0])
    return max(0, kb.get("MemTotal", 0) - kb.get("MemAvailable", kb.get("MemFree", 0))) * 1024


@dataclass(frozen=True)
class Cgroups:
    """Where the hierarchies are: `unified` for v2, else the v1 cpuacct and memory mounts."""

    unified: Path | None = None
    cpuacct: Path | None = None
    memory: Path | None = None
    meminfo: Path = MEMINFO

    @staticmethod
    def detect(mountinfo: Path = MOUNTINFO) -> "Cgroups":
        """The v1 cpuacct and memory controllers when mounted (hybrid hosts use those for pods);
        else the v2 hierarchy."""
        v1: dict[str, Path] = {}
        unified: Path | None = None
        try:
            lines = mountinfo.read_text().splitlines()
        except OSError:
            lines = []
        for line in lines:
            left, _, right = line.partition(" - ")
            fields, after = left.split(), right.split()
            if len(fields) < 5 or not after:
                continue
            mount_point, fstype = Path(fields[4]), after[0]
            if fstype == "cgroup2" and unified is None:
                unified = mount_point
            elif fstype == "cgroup" and len(after) >= 3:
                for option in after[2].split(","):
                    if option in ("cpuacct", "memory"):
                        v1.setdefault(option, mount_point)
        if "cpuacct" in v1 and "memory" in v1:
            return Cgroups(cpuacct=v1["cpuacct"], memory=v1["memory"])
        return Cgroups(unified=unified or Path("/sys/fs/cgroup"))

    @property
    def version(self) -> int:
        return 2 if self.unified is not None else 1

    def read(self, relative: str) -> Counters | None:
        """The counters of the cgroup at `relative` ("/" for the root); None if it is gone."""
        rel = relative.strip("/")
        try:
            if self.unified is not None:
                return self._read_v2(self.unified / rel if rel else self.unified, root=not rel)
            assert self.cpuacct is not None and self.memory is not None
            cpu = _read_int((self.cpuacct / rel if rel else self.cpuacct) / "cpuacct.usage")
            mem_dir = self.memory / rel if rel else self.memory
            usage = _read_int(mem_dir / "memory.usage_in_bytes")
            inactive = _stat(mem_dir / "memory.stat").get("total_inactive_file", 0)
            return Counters(cpu, max(0, usage - inactive))
        except (OSError, ValueError):
            return None

    def _read_v2(self, path: Path, root: bool) -> Counters:
        cpu = _stat(path / "cpu.stat").get("usage_usec", 0) * 1000
        if root and not (path / "memory.current").exists():
            return Counters(cpu, meminfo_in_use(self.meminfo))
        usage = _read_int(path / "memory.current")
        inactive = _stat(path / "memory.stat").get("inactive_file", 0)
        return Counters(cpu, max(0, usage - inactive))
