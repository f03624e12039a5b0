"""Resource usage on the node: cgroup v1 and v2 files read as the kubelet reads them, counters
turned into metrics-server's rates, the hollow runtime's simulation, and the units the API writes."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.runtime.base import Counters, NodeUsage, PodUsage
from agent.runtime.cgroups import Cgroups
from agent.runtime.hollow import HollowRuntime, parse_load
from agent.usage import UsageReporter
from controlplane.machinery.units import (binary_quantity, decimal_quantity, go_duration, milli_quantity,
                                          parse_duration)


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_detects_v1_hybrid_and_v2_from_mountinfo(tmp_path):
    hybrid = tmp_path / "hybrid"
    write(hybrid, "31 23 0:28 / /sys/fs/cgroup rw - tmpfs tmpfs rw\n"
                  "32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct\n"
                  "35 31 0:32 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n"
                  "41 31 0:38 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw\n")
    found = Cgroups.detect(hybrid)
    assert (found.version, found.cpuacct, found.memory) == (1, Path("/sys/fs/cgroup/cpu,cpuacct"),
                                                             Path("/sys/fs/cgroup/memory"))
    unified = tmp_path / "unified"
    write(unified, "30 23 0:27 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw,nsdelegate\n")
    assert Cgroups.detect(unified) == Cgroups(unified=Path("/sys/fs/cgroup"))


def test_v1_working_set_is_usage_less_inactive_file(tmp_path):
    cg = Cgroups(cpuacct=tmp_path / "cpuacct", memory=tmp_path / "memory")
    write(tmp_path / "cpuacct/pyctl/podX/c1/cpuacct.usage", "5000000000\n")
    write(tmp_path / "memory/pyctl/podX/c1/memory.usage_in_bytes", "10485760\n")
    write(tmp_path / "memory/pyctl/podX/c1/memory.stat", "cache 100\ntotal_inactive_file 4194304\nrss 5\n")
    assert cg.read("/pyctl/podX/c1") == Counters(5_000_000_000, 6 * 1024 * 1024)
    assert cg.read("/pyctl/podX/gone") is None  # a container that just stopped


def test_v2_reads_cpu_stat_and_the_root_from_meminfo(tmp_path):
    cg = Cgroups(unified=tmp_path, meminfo=tmp_path / "meminfo")
    write(tmp_path / "pyctl/podX/c1/cpu.stat", "usage_usec 2500000\nuser_usec 2000000\n")
    write(tmp_path / "pyctl/podX/c1/memory.current", "8388608\n")
    write(tmp_path / "pyctl/podX/c1/memory.stat", "anon 1\ninactive_file 1048576\n")
    assert cg.read("pyctl/podX/c1") == Counters(2_500_000_000, 7 * 1024 * 1024)
    write(tmp_path / "cpu.stat", "usage_usec 9000000\n")
    write(tmp_path / "meminfo", "MemTotal:       1000 kB\nMemFree:         100 kB\nMemAvailable:    400 kB\n")
    assert cg.read("/") == Counters(9_000_000_000, 600 * 1024)


def usage(node_cpu: int, *containers: tuple[str, str, int, int]) -> NodeUsage:
    pod = PodUsage("default", "web", "uid-1", {n: (cid, Counters(cpu, mem)) for n, cid, cpu, mem in containers})
    return NodeUsage(Counters(node_cpu, 1 << 30), [pod])


def test_rates_need_two_samples_of_the_same_container_run():
    reporter = UsageReporter(runtime=None)  # type: ignore[arg-type]
    assert reporter.report(usage(0, ("a", "id1", 0, 100)), now=10.0, wall=1000.0) is None  # first: starts it
    report = reporter.report(usage(4_000_000_000, ("a", "id1", 500_000_000, 4096)), now=12.0, wall=1002.0)
    assert (report.timestamp_unix_ms, report.window_ms) == (1_002_000, 2000)
    assert report.usage.cpu_nanocores == 2_000_000_000  # 2 cores over 2 s
    assert [(p.name, p.containers[0].usage.cpu_nanocores, p.containers[0].usage.memory_working_set_bytes)
            for p in report.pods] == [("web", 250_000_000, 4096)]
    # the container restarted (a new ID, its counter began again): its pod is left out this time
    report = reporter.report(usage(5_000_000_000, ("a", "id2", 10, 4096)), now=14.0, wall=1004.0)
    assert list(report.pods) == []
    # a pod measured only in part is left out as a whole
    reporter.report(usage(0, ("a", "id2", 0, 0)), now=20.0, wall=1010.0)
    report = reporter.report(usage(1, ("a", "id2", 10, 0), ("b", "new", 5, 0)), now=21.0, wall=1011.0)
    assert list(report.pods) == []


async def test_hollow_usage_follows_its_annotations():
    rt = HollowRuntime("n1", "198.18.0.0/24")
    pod = {"metadata": {"uid": "u1", "name": "p", "namespace": "default",
                        "annotations": {"pyctl.io/hollow-cpu": "800m,1000s,50m", "pyctl.io/hollow-memory": "96Mi"}},
           "spec": {"containers": [{"name": "c", "image": "x"}]}}
    await rt.start_pod(pod)
    first = await rt.usage()
    import asyncio
    await asyncio.sleep(0.2)
    second = await rt.usage()
    (cid, a), (_, b) = first.pods[0].containers["c"], second.pods[0].containers["c"]
    rate = (b.cpu_ns - a.cpu_ns) / 0.2 / 1e9
    assert 0.6 < rate < 1.0 and b.memory_working_set == 96 * 2**20
    assert second.node.memory_working_set > 96 * 2**20  # the node's own use on top
    await rt.close()


def test_load_phases():
    assert parse_load("800m,30s,50m") == [(0.8, 30.0), (0.05, float("inf"))]
    assert parse_load("64Mi") == [(64 * 2**20, float("inf"))]
    with pytest.raises(ValueError):
        parse_load("800m,30s")


def test_units_as_kubernetes_writes_them():
    assert decimal_quantity(123456, -9) == "123456n"
    assert decimal_quantity(250_000_000, -9) == "250m"
    assert decimal_quantity(2_000_000_000, -9) == "2"
    assert milli_quantity(1500) == "1500m" and milli_quantity(5_000_000_000) == "5M"
    assert binary_quantity(12345 * 1024) == "12345Ki" and binary_quantity(1 << 20) == "1Mi"
    assert binary_quantity(1000) == "1000" and binary_quantity(0) == "0"
    assert go_duration(15.0025) == "15.0025s" and go_duration(60) == "1m0s" and go_duration(0.25) == "250ms"
    assert go_duration(3725) == "1h2m5s"
    assert parse_duration("1m30s") == 90 and parse_duration("250ms") == 0.25 and parse_duration("15") == 15
    with pytest.raises(ValueError):
        parse_duration("15 minutes")
