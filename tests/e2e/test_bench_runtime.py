"""`python -m bench --quick --only podstart,scaleup` on a real node (root: runc, conmon, CNI):
the report has pyctl's pod start beside the raw runc path, and the scaling table; nothing
the benchmark made (netns mounts, bridges, containers, cgroups) is left behind."""

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
    proc = subprocess.run([sys.executable, "-m", "bench", "--quick", "--only", "podstart,scaleup", "--out", str(out)],
                          cwd=ROOT, capture_output=True, text=True, timeout=280)
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = out.read_text()
    pyctl = re.search(rf"\| pyctl: API create → Ready seen on a watch \| ({NUMBER}) \| ({NUMBER}) \| {NUMBER} \| 10 \|", report)
    raw = re.search(rf"\| raw: netns \+ CNI ADD \+ overlay \+ `runc run -d` \| ({NUMBER}) \| ({NUMBER}) \| {NUMBER} \| 10 \|", report)
    assert pyctl and raw, report
    assert re.search(rf"\| p50 within 4× raw \| {NUMBER}× \| (yes|no) \|", report)
    for step in ("0→10", "0→20"):
        assert re.search(rf"\| {step} \| {NUMBER} \| {NUMBER} \| {NUMBER} \|", report), step

    assert processes_mentioning("pyctl-bench-") == []
    assert "pyctl-bench-" not in Path("/proc/self/mountinfo").read_text()
    links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
    assert not re.search(r"\d+: py[br][0-9a-f]{6}[:@]", links)
    assert not list(Path("/sys/fs/cgroup").glob("*/pyctl-bench-*"))
