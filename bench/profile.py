"""py-spy sampling of a benchmark's target process, summarised as the stages that cost most.

`Profiler(pid, path)` runs `py-spy record --subprocesses --format raw` (collapsed stacks, one
line per distinct stack with its sample count; the target and its children, as the control
plane is two processes) until `stop()`; `top_stages()` reads those stacks
back and charges each sample to every pyctl function on its stack (inclusive time), so
a stage is "everything under controlplane/api/storage.py:create", say.
"""

from __future__ import annotations

import collections
import os
import re
import shutil
import signal
import subprocess
import sys
from dataclasses import dataclass

OURS = re.compile(r"\((?:.*/)?((?:controlplane|agent|pyctl)/[\w/]+\.py)(?::\d+)?\)")
# Frames every request passes through: their inclusive share says nothing about a stage.
# eventloop.py:run is the frame under which uvloop's loop (C, invisible to py-spy) runs.
WRAPPERS = re.compile(r"__main__\.py|controlplane/main\.py:|controlplane/componentsproc\.py:|"
                      r"controlplane/eventloop\.py:|:\w*middleware|Handlers\.dispatch$|"
                      r"build_app\.<locals>\.resource$|subresources\.py:dispatch$")
FRAME = re.compile(r"^(?P<func>[^ (]+) \((?P<file>[^:)]+)(?::\d+)?\)$")


@dataclass
class Stage:
    where: str  # "controlplane/api/storage.py:create"
    inclusive: float  # share of all samples with this function on the stack
    self_share: float  # share of samples where it is the innermost pyctl frame


def py_spy() -> str | None:
    """py-spy from the project's environment (a test extra), else from PATH."""
    beside = os.path.join(os.path.dirname(sys.executable), "py-spy")
    return beside if os.access(beside, os.X_OK) else shutil.which("py-spy")


class Profiler:
    def __init__(self, pid: int, path: str, rate: int = 67) -> None:
        self.path = path
        self.proc: subprocess.Popen | None = None
        if exe := py_spy():
            self.proc = subprocess.Popen(
                [exe, "record", "--pid", str(pid), "--subprocesses", "--rate", str(rate),
                 "--format", "raw",
                 "--output", path, "--nonblocking", "--duration", "600"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    @property
    def available(self) -> bool:
        return self.proc is not None

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)  # py-spy writes its output on Ctrl-C
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def _frame(text: str) -> str | None:
    m = FRAME.match(text.strip())
    if not m:
        return None
    ours = OURS.search(f"({m['file']})")
    return f"{ours.group(1)}:{m['func']}" if ours else None


def _component(where: str) -> str:
    """`controlplane/api/storage.py:create` → `controlplane/api`; a top-level module stays whole."""
    parts = where.split(":")[0].split("/")
    return "/".join(parts[:2]) if len(parts) > 2 else "/".join(parts)


def _leaf(text: str) -> str:
    m = FRAME.match(text.strip())
    return f"{m['file'].rsplit('/', 1)[-1]}:{m['func']}" if m else text.strip()


@dataclass
class Profile:
    stages: list[Stage]  # pyctl functions by inclusive samples, wrappers left out
    leaves: list[tuple[str, float]]  # innermost frames (any code) by share
    components: list[tuple[str, float]]  # package of the innermost pyctl frame, by share
    total: int  # busy samples


def top_stages(path: str, n: int = 8) -> Profile:
    """The `n` heaviest stages and innermost frames, and every component's share."""
    inclusive: collections.Counter[str] = collections.Counter()
    innermost: collections.Counter[str] = collections.Counter()
    leaves: collections.Counter[str] = collections.Counter()
    components: collections.Counter[str] = collections.Counter()
    total = 0
    try:
        lines = open(path).read().splitlines()
    except OSError:
        return Profile([], [], [], 0)
    for line in lines:
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        k = int(count)
        total += k
        frames = stack.split(";")
        leaves[_leaf(frames[-1])] += k
        ours = [f for f in (_frame(t) for t in frames) if f and not WRAPPERS.search(f)]
        for f in set(ours):
            inclusive[f] += k
        if ours:
            innermost[ours[-1]] += k
        components[_component(ours[-1]) if ours else "outside pyctl code (event loop, I/O, gRPC)"] += k
    if not total:
        return Profile([], [], [], 0)
    return Profile([Stage(f, c / total, innermost[f] / total) for f, c in inclusive.most_common(n)],
                   [(f, c / total) for f, c in leaves.most_common(n)],
                   [(f, c / total) for f, c in components.most_common()], total)
