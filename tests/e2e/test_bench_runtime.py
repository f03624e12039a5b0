"""`python -m bench --quick --only podstart,scaleup` on a real 3-node local cluster (root: runc,
conmon, CNI): the report has pyctl's pod start beside the raw runc path, and the scaling table;
nothing the benchmark made (its clusters' state, netns, mounts, bridges, containers, cgroups)
is left behind."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from .helpers import processes_mentioning
from .test_runtime import pytestmark as runtime_marks

pytestmark = runtime_marks
ROOT = Path(__file__).resolve().parents[2]
NUMBER = r"\d+(?:\.\d+)?"


def test_quick_podstart_and_scaleup_report(tmp_path: Path) -> None:
    out = tmp_path / "benchmarks.md"
    forward = Path("/proc/sys/net/ipv4/ip_forward").read_text()
    proc = subprocess.run([sys.executable, "-m", "bench", "--quick", "--only", "podstart,scaleup", "--out", str(out)],
                          cwd=ROOT, capture_output=True, text=True, timeout=480)
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = out.read_text()
    assert "## Pod start latency on 3 real nodes (runc)" in report
    pyctl = re.search(rf"\| pyctl: API create → Ready seen on a watch \| ({NUMBER}) \| ({NUMBER}) \| {NUMBER} \| 10 \|", report)
    burst = re.search(rf"\| pyctl: Deployment of 10, each pod first seen → Ready \(all Ready in {NUMBER} s\) \| "
                      rf"{NUMBER} \| {NUMBER} \| {NUMBER} \| 10 \|", report)
    raw = re.search(rf"\| raw: netns \+ CNI ADD \+ overlay \+ `runc run -d` \| ({NUMBER}) \| ({NUMBER}) \| {NUMBER} \| 10 \|", report)
    assert pyctl and burst and raw, report
    assert re.search(rf"\| p50 within 4× raw \| {NUMBER}× \| (yes|no) \|", report)
    for step in ("0→10", "0→20"):
        # pyctl's three figures, then the raw floor's seconds and machine CPU ms per pod, measured.
        assert re.search(rf"\| {step} \| {NUMBER} \| {NUMBER} \| {NUMBER} \| {NUMBER} \| {NUMBER} \|", report), step

    assert "**3 real nodes (runc), demo image cached" in report
    # Without --swarm no Docker daemon is started, and the report says so rather than quoting a figure.
    assert "Swarm not measured in this run (`python -m bench --only scaleup --swarm` measures it)" in report
    assert Path("/proc/sys/net/ipv4/ip_forward").read_text() == forward
    assert processes_mentioning("pyctl-bench-") == []
    assert processes_mentioning("/var/lib/pyctl/clusters/bench-") == []
    mounts = Path("/proc/self/mountinfo").read_text()
    assert "pyctl-bench-" not in mounts and "/clusters/bench-" not in mounts
    links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
    assert not re.search(r"\d+: (py[br][0-9a-f]{6}|pyc-bench-[0-9a-f]{5})[:@]", links)
    assert not list(Path("/run/netns").glob("pyctl-bench-*"))
    assert not list(Path("/var/lib/pyctl/clusters").glob("bench-*"))
    assert not list(Path("/sys/fs/cgroup").glob("*/pyctl-bench-*"))
