"""`python -m bench --quick --only volumes` (root: loop devices): the report has making, deleting
and remounting loop-mounted volumes beside plain directories, and writes inside each, as
numbers with their ratios; no mount, loop device or file of it is left behind."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from .test_runtime import pytestmark as runtime_marks

pytestmark = runtime_marks
ROOT = Path(__file__).resolve().parents[2]
NUMBER = r"\d+(?:\.\d+)?"


def test_quick_volumes_report(tmp_path: Path) -> None:
    out = tmp_path / "benchmarks.md"
    keep = tmp_path / "work"
    proc = subprocess.run([sys.executable, "-m", "bench", "--quick", "--only", "volumes", "--out", str(out),
                           "--keep", str(keep)], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = out.read_text()
    assert "## Local volumes: the cost of enforcing their size" in report
    assert "**4 volumes of 64 MiB each**" in report
    for op in ("make (ensure)", "delete"):
        assert re.search(rf"\| {re.escape(op)} \| {NUMBER} / {NUMBER} \| {NUMBER} / {NUMBER} \| {NUMBER}× \|", report), op
    assert re.search(rf"\| mount again after a reboot \(per volume\) \| - \| {NUMBER} / {NUMBER} \| - \|", report)
    assert re.search(rf"\| sequential 64 MiB \+ fsync \(MiB/s\) \| {NUMBER} \| {NUMBER} \| {NUMBER}× \|", report)
    assert re.search(rf"\| 100 × \(4 KiB append \+ fsync\), p50 ms \| {NUMBER} \| {NUMBER} \| {NUMBER}× \|", report)
    assert str(keep) not in Path("/proc/self/mountinfo").read_text()
    backing = [f.read_text() for f in Path("/sys/block").glob("loop*/loop/backing_file")]
    assert not [b for b in backing if str(keep) in b]
    assert not (keep / "volumes").exists()
