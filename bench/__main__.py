"""`python -m bench [--quick] [--only api,scheduler,...] [--swarm] [--out docs/benchmarks.md]`."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import importlib
import logging
import os
import shlex
import sys
import tempfile
import time

from . import goals, report
from .plot import cdf_png, timeline_png
from .profile import top_stages

BENCHMARKS = ("api", "crd", "scheduler", "plan", "daemonset", "podstart", "scaleup", "memory", "dashboard",
              "jobs", "volumes", "ingress", "resourcemetrics")
ROOT_ONLY = ("podstart", "scaleup", "volumes")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    p.add_argument("--quick", action="store_true", help="small sizes (for tests): under about a minute")
    p.add_argument("--only", default=None,
                   help="comma-separated subset of: " + ", ".join(BENCHMARKS))
    p.add_argument("--out", default="docs/benchmarks.md", help="the report (its PNG plots are written beside it)")
    p.add_argument("--swarm", action="store_true",
                   help="measure Docker Swarm's scale-up beside pyctl's in `scaleup` (installs Debian's docker.io "
                   "when dockerd is missing); a full run (no --only, no --quick) does so too")
    p.add_argument("--keep", metavar="DIR", help="keep the processes' logs and the raw py-spy profiles in DIR "
                   "(default: a temporary directory, removed at the end)")
    args = p.parse_args(argv)
    args.swarm = args.swarm or (args.only is None and not args.quick)
    args.only = [n.strip() for n in (args.only or ",".join(BENCHMARKS)).split(",") if n.strip()]
    unknown = [n for n in args.only if n not in BENCHMARKS]
    if unknown:
        p.error(f"unknown benchmark(s): {', '.join(unknown)}; choose from {', '.join(BENCHMARKS)}")
    return args


def profile_section(sections: list[report.Section]) -> report.Section | None:
    sec = report.Section("profile", "Profile: where the control plane spends its time",
                         "py-spy sampled the control plane's two processes (the API server and its "
                         "components child) while the benchmark above ran (`py-spy record --subprocesses "
                         "--format raw --nonblocking`, idle threads excluded). A stage is a "
                         "pyctl function and everything it calls; the share is of all busy samples.")
    for s, key, path in [(s, k, v) for s in sections for k, v in s.facts.items() if k.startswith("profile") and v]:
        phase = f" ({key.split(':', 1)[1].strip()})" if ":" in key else ""
        prof = top_stages(str(path))
        sec.tables.append(report.Table(
            f"During `{s.name}`{phase}: share by component ({prof.total} busy samples)",
            ["component (innermost pyctl frame)", "share"], [[f"`{c}`", f"{v:.0%}"] for c, v in prof.components]))
        sec.tables.append(report.Table(
            f"During `{s.name}`{phase}: heaviest pyctl stages",
            ["stage", "inclusive", "self (innermost pyctl frame)"],
            [[f"`{st.where}`", f"{st.inclusive:.0%}", f"{st.self_share:.0%}"] for st in prof.stages]))
        sec.tables.append(report.Table(f"During `{s.name}`{phase}: innermost frames (any code)",
                                       ["frame", "share"], [[f"`{f}`", f"{v:.0%}"] for f, v in prof.leaves]))
    return sec if sec.tables else None


async def run_all(args: argparse.Namespace, workdir: str) -> list[report.Section]:
    sections: list[report.Section] = []
    facts: dict[str, object] = {"options.swarm": args.swarm}  # run options a benchmark reads
    for name in args.only:
        if name in ROOT_ONLY and os.geteuid() != 0:
            print(f"bench: skipping {name}: needs root (runc, netns, CNI)", file=sys.stderr)
            continue
        print(f"bench: running {name}{' (quick)' if args.quick else ''}", file=sys.stderr, flush=True)
        module = importlib.import_module(f"bench.{name}")
        t0 = time.monotonic()
        sec = await module.run(args.quick, workdir, facts)
        sec.notes.append(f"Took {time.monotonic() - t0:.0f} s; load average after: {report.load_average()}.")
        facts.update({f"{name}.{k}": v for k, v in sec.facts.items()})
        sections.append(sec)
    return sections


def write_plots(sections: list[report.Section], out: str) -> list[report.Plot]:
    """The latency CDFs and the pods/s timelines, each a PNG beside the report `out`."""
    stem, plots = os.path.splitext(os.path.basename(out))[0], []
    cdfs = {k: v for s in sections for k, v in s.distributions.items()}
    if cdfs:
        png, legend = cdf_png(cdfs)
        plots.append(report.Plot(f"{stem}-latency.png", "latency distributions",
                                 "The plot shows each latency distribution as a CDF (x: latency, log scale, one "
                                 "grey line per decade from 0.1 ms; y: fraction of operations, 0 to 1); the "
                                 "legend is the colour key below.", legend))
        with open(os.path.join(os.path.dirname(out), plots[-1].file), "wb") as f:
            f.write(png)
    timelines = {k: v for s in sections for k, v in s.timelines.items()}
    if timelines:
        png, legend = timeline_png(timelines)
        plots.append(report.Plot(f"{stem}-rate.png", "pods per second over time",
                                 "Pods per second over time during the scheduler run (x: seconds since the first "
                                 "Deployment was created; y: pods that reached each state in that bin, per second, "
                                 "from the moments the benchmark's pod watch first saw each pod created, bound and "
                                 "Running).", legend))
        with open(os.path.join(os.path.dirname(out), plots[-1].file), "wb") as f:
            f.write(png)
    return plots


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    started = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M")
    host = report.machine()
    load_before = report.load_average()
    t0 = time.monotonic()
    if args.keep:
        os.makedirs(args.keep, exist_ok=True)
    with (contextlib.nullcontext(os.path.abspath(args.keep)) if args.keep
          else tempfile.TemporaryDirectory(prefix="pyctl-bench-")) as workdir:
        sections = asyncio.run(run_all(args, workdir))
        prof = profile_section(sections)
        if prof:
            sections.append(prof)
            findings = os.path.join(os.path.dirname(__file__), "findings.md")
            if os.path.exists(findings):  # a person's reading of a full run's profile, kept beside the code
                with open(findings) as f:
                    sections.append(report.Section("findings", "Findings: what the profiles showed, and what was done", f.read().strip()))
    out = os.path.abspath(args.out)
    os.makedirs(os.path.dirname(out), exist_ok=True)
    facts = {f"{s.name}.{k}": v for s in sections for k, v in s.facts.items()}
    sections.insert(0, goals.section(facts))
    plots = write_plots(sections, out)
    command = "python -m bench " + " ".join(shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:]))
    load = (f"load average {load_before} before the run and {report.load_average()} after; whatever "
            "else ran on the machine moves the absolute numbers — the ratios compare runs made "
            "moments apart under the same load.")
    with open(out, "w") as f:
        f.write(report.render(command.strip(), started, time.monotonic() - t0, host, sections, plots, load))
    print(f"bench: wrote {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
