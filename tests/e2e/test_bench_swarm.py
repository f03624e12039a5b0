"""The Docker Swarm baseline of `python -m bench --only scaleup --swarm` (bench/swarm.py): a
dockerd of its own in a network namespace of its own scales a service and reports each step;
a daemon that cannot start is reported with its own error; either way nothing it made (netns,
processes, cgroups, mounts, its directory) is left behind. The test installs no Docker: the
real-daemon case runs only where Debian's docker.io is already installed."""

from __future__ import annotations

import asyncio
import math
import os
import shutil
from pathlib import Path

import pytest

from bench import swarm

pytestmark = [pytest.mark.e2e, pytest.mark.skipif(os.geteuid() != 0, reason="needs root (netns)")]


def assert_nothing_left(workdir: Path) -> None:
    assert not list(Path("/run/netns").glob("pyctl-bench-swarm-*"))
    assert not list(Path("/sys/fs/cgroup").glob("*/pyctl-bench-swarm-*"))
    assert not list(Path("/sys/fs/cgroup").glob("pyctl-bench-swarm-*"))
    assert not list(Path("/run").glob("pyctl-bench-swarm-*"))
    assert str(workdir) not in Path("/proc/self/mountinfo").read_text()
    assert [p.name for p in workdir.iterdir() if p.is_dir()] == []  # only the daemon's log stays
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        assert str(workdir).encode() not in cmdline, cmdline


@pytest.mark.skipif(not shutil.which("dockerd"), reason="Debian's docker.io is not installed")
def test_swarm_scales_a_service_and_leaves_nothing(tmp_path: Path) -> None:
    try:
        version, steps = asyncio.run(swarm.measure(str(tmp_path), 2, (4,), 120))
    except swarm.Unavailable as e:
        assert_nothing_left(tmp_path)
        # The daemon's own refusal (e.g. no devices cgroup) means this machine cannot run an engine;
        # anything else (a socket path, the netns, swarm init) is the benchmark's fault.
        if not str(e).startswith("failed to start daemon:"):
            raise
        pytest.skip(f"Swarm not measurable here: {e}")
    assert version
    assert [s.label for s in steps] == ["0→2 (service created)", "2→4", "0→4"]
    assert all(s.up > 0 for s in steps)
    assert math.isnan(steps[0].down) and all(s.down > 0 for s in steps[1:])
    assert_nothing_left(tmp_path)


def test_a_daemon_that_cannot_start_is_reported_in_its_own_words(tmp_path: Path, monkeypatch) -> None:
    fake = tmp_path / "bin" / "dockerd"
    fake.parent.mkdir()
    fake.write_text("#!/bin/sh\necho 'some start-up chatter'\n"
                    "echo \"failed to start daemon: Devices cgroup isn't mounted\" >&2\nexit 1\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake.parent}:{os.environ['PATH']}")
    work = tmp_path / "work"
    work.mkdir()
    with pytest.raises(swarm.Unavailable) as e:
        asyncio.run(swarm.measure(str(work), 2, (4,), 30))
    assert str(e.value) == "failed to start daemon: Devices cgroup isn't mounted"
    assert_nothing_left(work)
