"""The report: what each benchmark returns (`Section`) and how docs/benchmarks.md is written."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from dataclasses import dataclass, field


@dataclass
class Table:
    title: str
    headers: list[str]
    rows: list[list[str]] = field(default_factory=list)

    def markdown(self) -> str:
        lines = [f"**{self.title}**", "", "| " + " | ".join(self.headers) + " |",
                 "|" + "|".join(" --- " for _ in self.headers) + "|"]
        lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in self.rows]
        return "\n".join(lines)


@dataclass
class Section:
    """One benchmark's results: tables, prose notes, and latency samples to plot."""

    name: str
    title: str
    intro: str = ""
    tables: list[Table] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    distributions: dict[str, list[float]] = field(default_factory=dict)
    """label -> latencies in seconds, drawn in the plot."""
    facts: dict[str, object] = field(default_factory=dict)
    """Numbers other benchmarks and the goals table reuse (e.g. the control plane's RSS after the scheduler run)."""
    timelines: dict[str, list[tuple[float, float]]] = field(default_factory=dict)
    """label -> (s since the start, rate) points, drawn in the pods/s-over-time plot."""

    def markdown(self) -> str:
        parts = [f"## {self.title}"]
        if self.intro:
            parts.append(self.intro)
        parts += [t.markdown() for t in self.tables]
        if self.notes:
            parts.append("\n".join(f"- {n}" for n in self.notes))
        return "\n\n".join(parts)


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def load_average() -> str:
    return " / ".join(f"{x:.2f}" for x in os.getloadavg())


def machine() -> Table:
    nproc = subprocess.run(["nproc"], capture_output=True, text=True).stdout.strip()
    with open("/proc/meminfo") as f:
        mem_kb = int(next(line for line in f if line.startswith("MemTotal")).split()[1])
    return Table("Machine", ["what", "value"], [
        ["nproc", nproc], ["CPU", _cpu_model()], ["memory", f"{mem_kb / 1024 / 1024:.1f} GiB"],
        ["kernel", platform.release()], ["Python", sys.version.split()[0]],
        ["load average (1/5/15 min) at start", load_average()],
    ])


@dataclass
class Plot:
    """A PNG written beside the report: its file name, what it shows, and its colour key."""

    file: str
    alt: str
    caption: str
    legend: list[tuple[str, str]]
    """(label, colour name) per series."""

    def markdown(self) -> str:
        return "\n\n".join([f"![{self.alt}]({self.file})", self.caption,
                             "; ".join(f"{colour}: {label}" for label, colour in self.legend)])


def render(command: str, started: str, took: float, host: Table, sections: list[Section],
           plots: list[Plot], load_note: str) -> str:
    head = [
        "# pyctl benchmarks", "",
        "Written by `python -m bench`; every number below was measured in one run, and each "
        "baseline (raw etcd, raw runc, Docker Swarm when `scaleup` measured it) was measured in that "
        "same run on the same machine.", "",
        f"Command: `{command}`  ", f"Started: {started} UTC, took {took:.0f} s.", "",
        host.markdown(), "", f"Load: {load_note}", "",
    ]
    for plot in plots:
        head += [plot.markdown(), ""]
    return "\n".join(head) + "\n" + "\n\n".join(s.markdown() for s in sections) + "\n"
