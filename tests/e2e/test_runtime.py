"""The runc runtime on a real node: netns + CNI bridge + conmon + runc, as root.

Each test gets its own state dir, bridge, podCIDR (inside 10.244.0.0/16) and cgroup parent,
and removes all of them by name afterwards, even on failure. Traffic goes only between
namespaces the test created.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import AsyncIterator

import pytest

from agent.network import netns as nsmod
from agent.network.cni import NetworkConfig
from agent.runtime import conmon, overlay
from agent.runtime.base import RuntimePod
from agent.runtime.runc import RuncRuntime

from .helpers import (busybox_rootfs, cgroup_dirs, container, host_local_allocations, pod,
                      processes_mentioning)

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("runc") or not shutil.which("conmon"),
                       reason="needs root, runc and conmon"),
]


HTTP_GET = ("import sys, urllib.request; "
            "print(urllib.request.urlopen(sys.argv[1], timeout=2).read().decode())")


class Node:
    """One test's node: runtime plus everything needed to remove what it made."""

    def __init__(self, base: Path) -> None:
        tag = uuid.uuid4().hex[:8]
        self.state = base / "state"
        self.bridge = f"pyt{tag[:8]}"
        self.cgroup_parent = f"pyctl-test-{tag}"
        self.cidr = f"10.244.{random.randint(100, 250)}.0/24"
        self.rootfs = busybox_rootfs(base / "rootfs")
        self.net = NetworkConfig(pod_cidr=self.cidr, bridge=self.bridge, data_dir=self.state / "cni")
        self.rt = self.runtime()

    def runtime(self) -> RuncRuntime:
        return RuncRuntime(self.state, self.net, lambda image, policy: ([str(self.rootfs)], {}),
                           cgroup_parent=self.cgroup_parent)

    async def wait(self, uid: str, name: str, state: str, timeout: float = 20) -> RuntimePod:
        deadline = time.monotonic() + timeout
        while True:
            rp = await self.rt.pod_status(uid)
            assert rp is not None
            c = rp.container(name)
            if c is not None and c.state == state:
                return rp
            assert not (c is not None and c.state == "exited"), f"{name} exited early: {c}"
            assert time.monotonic() < deadline, f"{name} never {state}: {c}"
            await asyncio.sleep(0.05)

    def assert_nothing_left(self, uid: str) -> None:
        assert processes_mentioning(uid[:13]) == [], "a conmon or container process is left"
        out = subprocess.run(["runc", "--root", str(self.state / "runc"), "list", "--format", "json"],
                             capture_output=True, text=True, check=True).stdout
        assert [c["id"] for c in json.loads(out or "null") or [] if uid[:13] in c["id"]] == []
        assert nsmod.mounts_under(self.state / "pods" / uid) == []
        assert not (self.state / "pods" / uid).exists()
        for d in ("exits", "sockets"):
            assert [f for f in (self.state / d).iterdir() if uid[:13] in f.name] == []
        assert cgroup_dirs(f"{self.cgroup_parent}/pod{uid}") == []
        assert host_local_allocations(self.state / "cni", uid) == []

    async def cleanup(self) -> None:
        for rp in await self.rt.list_pods():
            await self.rt.stop_pod(rp.uid, 0)
        for target in nsmod.mounts_under(self.state):
            subprocess.run(["umount", "-l", target], capture_output=True)
        subprocess.run(["ip", "link", "del", self.bridge], capture_output=True)
        for d in cgroup_dirs(self.cgroup_parent):
            for sub in sorted(Path(d).glob("**/"), key=lambda p: len(str(p)), reverse=True):
                try:
                    sub.rmdir()
                except OSError:
                    pass


@contextlib.asynccontextmanager
async def node_at(base: Path) -> AsyncIterator[Node]:
    """A Node under `base`, removed on the way out."""
    # The bridge plugin turns on IPv4 forwarding for its gateway; put the host back as it was.
    forward = Path("/proc/sys/net/ipv4/ip_forward").read_text()
    n = Node(base)
    try:
        yield n
    finally:
        await n.cleanup()
        Path("/proc/sys/net/ipv4/ip_forward").write_text(forward)


@pytest.fixture
async def node(tmp_path: Path) -> AsyncIterator[Node]:
    async with node_at(tmp_path) as n:
        yield n


async def test_pod_serves_http_to_another_pod_and_leaves_nothing_behind(node: Node) -> None:
    web = pod("web", [container("httpd", "sh", "-c",
                                "echo hello-from-pyctl > /tmp/index.html && exec httpd -f -p 8080 -h /tmp")])
    client = pod("client", [container("idle", "sleep", "3600")])
    rp = await node.rt.start_pod(web)
    await node.rt.start_pod(client)
    assert rp.pod_ip.startswith(node.cidr.rsplit(".", 1)[0] + ".")
    await node.wait(web["metadata"]["uid"], "httpd", "running")

    client_ns = node.state / "pods" / client["metadata"]["uid"] / "ns" / "net"
    body = ""
    for _ in range(100):  # bounded: httpd may take a moment to listen
        # Debian's static busybox wget segfaults (glibc static NSS), so the client is Python.
        rc, body, _ = await nsmod.run_in_netns(client_ns, sys.executable, "-c", HTTP_GET,
                                               f"http://{rp.pod_ip}:8080/index.html")
        if rc == 0:
            break
        await asyncio.sleep(0.05)
    assert body.strip() == "hello-from-pyctl"

    for p in (web, client):  # PID 1 without a TERM handler ignores TERM: KILL after the grace
        await node.rt.stop_pod(p["metadata"]["uid"], 0.5)
        node.assert_nothing_left(p["metadata"]["uid"])
    assert await node.rt.list_pods() == []
    assert nsmod.mounts_under(node.state) == [] and cgroup_dirs(node.cgroup_parent) == []


async def test_exit_code_is_reported_and_restart_keeps_the_last_state(node: Node) -> None:
    p = pod("fail", [container("c", "sh", "-c", "echo bye; exit 3")])
    uid = p["metadata"]["uid"]
    await node.rt.start_pod(p)
    c = (await node.wait(uid, "c", "exited")).container("c")
    assert c is not None and (c.exit_code, c.reason) == (3, "Error")
    log = node.rt.log_path(uid, "c")
    assert log is not None and log.read_text().split(" ", 1)[1] == "stdout F bye\n"  # CRI format

    await node.rt.restart_container(uid, "c")
    c = (await node.wait(uid, "c", "exited")).container("c")
    assert c is not None and c.restart_count == 1 and c.exit_code == 3
    assert c.last_state is not None and c.last_state.exit_code == 3
    await node.rt.stop_pod(uid, 1)
    node.assert_nothing_left(uid)


async def test_a_container_whose_image_fails_is_retried_without_counting_restarts(node: Node) -> None:
    attempts = []

    def rootfs_for(image: str, policy: str):
        attempts.append((image, policy))
        if len(attempts) < 3:
            raise LookupError('failed to pull and unpack image "reg/x:1": manifest unknown')
        return [str(node.rootfs)], {}

    node.rt.rootfs_for = rootfs_for
    p = pod("pull", [container("c", "sleep", "3600", imagePullPolicy="Always")])
    uid = p["metadata"]["uid"]
    rp = await node.rt.start_pod(p)
    c = rp.container("c")
    assert c is not None and (c.state, c.reason) == ("exited", "ErrImagePull")
    await node.rt.restart_container(uid, "c")  # the pod worker's retries after back-off
    c = (await node.rt.pod_status(uid)).container("c")
    assert c is not None and c.reason == "ErrImagePull" and c.restart_count == 0
    await node.rt.restart_container(uid, "c")
    c = (await node.wait(uid, "c", "running")).container("c")
    # The kubelet counts restarts of containers that ran; pulling again is not one.
    assert c is not None and c.restart_count == 0 and c.last_state is None
    assert attempts == [("busybox", "Always")] * 3  # the container's pull policy reaches the store
    await node.rt.stop_pod(uid, 0)
    node.assert_nothing_left(uid)


def _runc_ids(node: Node, uid: str) -> list[str]:
    out = subprocess.run(["runc", "--root", str(node.state / "runc"), "list", "--format", "json"],
                         capture_output=True, text=True, check=True).stdout
    return [c["id"] for c in json.loads(out or "null") or [] if uid[:13] in c["id"]]


async def test_a_container_starts_through_runcs_exec_fifo_without_a_runc_start(node: Node,
                                                                               tmp_path: Path) -> None:
    # A runc that refuses `start` (and runs everything else): the pod still runs, because the
    # agent lets the created process through runc's exec fifo itself, as `runc start` does.
    wrapper = tmp_path / "runc-without-start"
    wrapper.write_text('#!/bin/sh\nfor a; do [ "$a" = start ] && { echo "start refused" >&2; exit 97; }; done\n'
                       f'exec {conmon.RUNC} "$@"\n')
    wrapper.chmod(0o755)
    node.rt.runc.binary = str(wrapper)
    p = pod("fifo", [container("c", "sh", "-c", "echo up; exec sleep 3600")])
    uid = p["metadata"]["uid"]
    await node.rt.start_pod(p)
    c = (await node.wait(uid, "c", "running")).container("c")
    assert c is not None and c.reason != "StartError"
    [cid] = _runc_ids(node, uid)
    state = json.loads(subprocess.run([conmon.RUNC, "--root", str(node.state / "runc"), "state", cid],
                                      capture_output=True, text=True, check=True).stdout)
    assert state["status"] == "running"  # runc itself agrees: the fifo is gone
    assert not (node.state / "runc" / cid / conmon.EXEC_FIFO).exists()
    log = node.rt.log_path(uid, "c")
    for _ in range(100):  # bounded: the entrypoint runs once let through
        if log is not None and log.exists() and "stdout F up" in log.read_text():
            break
        await asyncio.sleep(0.05)
    assert log is not None and "stdout F up" in log.read_text()
    # Without the fifo (here: started already) it is `runc start`'s own answer.
    with pytest.raises(conmon.RuntimeCommandError, match="already running"):
        await conmon.begin(conmon.Runc(node.rt.paths), cid, state["pid"])
    await node.rt.stop_pod(uid, 0)
    node.assert_nothing_left(uid)


async def test_a_container_whose_process_died_before_its_start_is_a_start_error(
        node: Node, monkeypatch: pytest.MonkeyPatch) -> None:
    real_begin = conmon.begin

    async def killed_first(runc: conmon.Runc, cid: str, pid: int, timeout: float = 30) -> None:
        os.kill(pid, signal.SIGKILL)  # runc's init, waiting at its exec fifo
        await real_begin(runc, cid, pid, timeout=5)

    monkeypatch.setattr(conmon, "begin", killed_first)
    p = pod("dead", [container("c", "sleep", "3600")])
    uid = p["metadata"]["uid"]
    started = time.monotonic()
    rp = await node.rt.start_pod(p)
    assert time.monotonic() - started < 5, "the start waited for its whole timeout"
    c = rp.container("c")
    assert c is not None and (c.state, c.reason) == ("exited", "StartError"), c
    assert "already dead" in (c.message or "")
    await node.rt.stop_pod(uid, 0)
    node.assert_nothing_left(uid)


async def test_stop_sends_term_then_kill_after_the_grace_period(node: Node, tmp_path: Path) -> None:
    out = tmp_path / "signals"
    out.mkdir()
    vol = [{"name": "out", "hostPath": {"path": str(out)}}]
    mount = [{"name": "out", "mountPath": "/out"}]
    polite = pod("polite", [container("c", "sh", "-c",
                 "trap 'echo TERM > /out/polite; exit 0' TERM; while :; do sleep 0.1; done",
                 volumeMounts=mount)], volumes=vol)
    stubborn = pod("stubborn", [container("c", "sh", "-c",
                   "trap 'echo TERM >> /out/stubborn' TERM; while :; do sleep 0.1; done",
                   volumeMounts=mount)], volumes=vol)
    for p in (polite, stubborn):
        await node.rt.start_pod(p)
        await node.wait(p["metadata"]["uid"], "c", "running")
    await asyncio.sleep(0.3)  # let sh install its trap

    t0 = time.monotonic()
    await node.rt.stop_pod(polite["metadata"]["uid"], 10)
    assert time.monotonic() - t0 < 5, "a container that exits on TERM must not wait for the grace"
    assert (out / "polite").read_text().strip() == "TERM"

    t0 = time.monotonic()
    await node.rt.stop_pod(stubborn["metadata"]["uid"], 1)
    assert time.monotonic() - t0 >= 1, "KILL must wait for the grace period"
    assert "TERM" in (out / "stubborn").read_text()
    for p in (polite, stubborn):
        node.assert_nothing_left(p["metadata"]["uid"])


async def test_memory_limit_exceeded_is_oom_killed(node: Node) -> None:
    limits = {"resources": {"limits": {"memory": "16Mi", "cpu": "500m"}}}
    p = pod("hog", [container("c", "sh", "-c", "tail /dev/zero", **limits)])
    uid = p["metadata"]["uid"]
    await node.rt.start_pod(p)
    c = (await node.wait(uid, "c", "exited")).container("c")
    assert c is not None and c.reason == "OOMKilled" and c.exit_code == 137
    await node.rt.stop_pod(uid, 0)
    node.assert_nothing_left(uid)


async def test_a_restarted_agent_re_adopts_running_containers(node: Node) -> None:
    p = pod("long", [container("c", "sleep", "3600")])
    uid = p["metadata"]["uid"]
    await node.rt.start_pod(p)
    before = await node.wait(uid, "c", "running")
    cid = before.containers[0].container_id.removeprefix("runc://")
    pid = await node.rt.runc.state(cid)
    await node.rt.close()

    node.rt = node.runtime()  # the agent restarts: a new runtime over the same state dir
    pods = await node.rt.list_pods()
    assert [(x.uid, x.pod_ip) for x in pods] == [(uid, before.pod_ip)]
    assert pods[0].containers[0].state == "running"
    assert await node.rt.runc.state(cid) == pid  # same process, never restarted
    await node.rt.start_pod(p)  # idempotent: nothing new is started
    assert await node.rt.runc.state(cid) == pid
    await node.rt.stop_pod(uid, 0)
    node.assert_nothing_left(uid)


def test_overlay_rootfs_merges_lower_layers_and_keeps_them_unchanged(tmp_path: Path) -> None:
    top, bottom, cdir = tmp_path / "top", tmp_path / "bottom", tmp_path / "c"
    for d, content in ((top, "top"), (bottom, "bottom")):
        d.mkdir()
        (d / "shared").write_text(content)
        (d / f"only-{content}").write_text(content)
    rootfs = overlay.mount_rootfs([str(top), str(bottom)], cdir)
    try:
        assert (rootfs / "shared").read_text() == "top"
        assert {p.name for p in rootfs.iterdir()} == {"shared", "only-top", "only-bottom"}
        (rootfs / "shared").write_text("written")
        assert (top / "shared").read_text() == "top"
        assert (cdir / "upper" / "shared").read_text() == "written"
    finally:
        overlay.unmount_rootfs(cdir)
    assert not overlay.is_mounted(rootfs) and not (cdir / "upper").exists()


async def test_containers_of_a_pod_share_network_hostname_and_volumes(node: Node) -> None:
    data = [{"name": "data", "mountPath": "/data"}]
    p = pod("duo", [
        container("server", "sh", "-c", "echo pod-local > /tmp/index.html && exec httpd -f -p 8080 -h /tmp"),
        container("probe", "sh", "-c",
                  "hostname > /data/hostname; cat /etc/hosts > /data/hosts; "
                  "wc -c < /proc/timer_list > /data/timer_list; "
                  "awk '$5 == \"/proc/sys\" {print $6}' /proc/self/mountinfo > /data/proc_sys; "
                  "until printf 'GET /index.html HTTP/1.0\\r\\n\\r\\n' | nc 127.0.0.1 8080 > /data/got; "
                  "do sleep 0.1; done; exec sleep 3600", volumeMounts=data),
    ], volumes=[{"name": "data", "emptyDir": {}}])
    uid = p["metadata"]["uid"]
    rp = await node.rt.start_pod(p)
    got = node.state / "pods" / uid / "volumes" / "data" / "got"
    for _ in range(200):  # bounded wait for the probe's request over the pod's loopback
        if got.exists() and "pod-local" in got.read_text():
            break
        await asyncio.sleep(0.05)
    assert "pod-local" in got.read_text()
    vol = got.parent
    assert (vol / "hostname").read_text().strip() == "duo"
    assert f"{rp.pod_ip}\tduo" in (vol / "hosts").read_text()
    assert (vol / "timer_list").read_text().strip() == "0"  # masked even for root
    assert (vol / "proc_sys").read_text().startswith("ro,")
    await node.rt.stop_pod(uid, 0)
    node.assert_nothing_left(uid)


async def test_cni_add_check_and_an_idempotent_del(node: Node) -> None:
    from agent.network.cni import Cni

    cni = Cni(node.net)
    ns = nsmod.create(node.state / "cni-test-ns", "cni-test")
    try:
        # The namespace comes with `lo` up (no CNI loopback plugin), and only `lo`.
        code, out, _ = await nsmod.run_in_netns(ns.net, "ip", "-o", "addr")
        assert code == 0 and "127.0.0.1/8" in out and {ln.split()[1] for ln in out.splitlines()} == {"lo"}, out
        code, out, _ = await nsmod.run_in_netns(ns.net, "ip", "-o", "link", "show", "lo")
        assert ",UP," in out, out
        att = await cni.add("pyctl-cni-test", ns.net)
        assert att.pod_ip.startswith(node.cidr.rsplit(".", 1)[0] + ".")
        await cni.check(att)
        await cni.delete(att)
        await cni.delete(att)  # a second DEL (agent crashed mid-teardown) is harmless
        assert host_local_allocations(node.state / "cni", "pyctl-cni-test") == []
    finally:
        nsmod.delete(node.state / "cni-test-ns")
    await cni.delete(att)  # and so is a DEL after the netns is gone
    assert not (node.state / "cni-test-ns").exists()


def test_bundle_follows_kubernetes_rules_for_command_resources_and_privileges() -> None:
    from agent.runtime import bundle

    image = {"Entrypoint": ["/entry"], "Cmd": ["serve"], "Env": ["PATH=/bin", "A=image"]}
    assert bundle.process_args({}, image) == ["/entry", "serve"]
    assert bundle.process_args({"args": ["x"]}, image) == ["/entry", "x"]
    assert bundle.process_args({"command": ["/c"]}, image) == ["/c"]
    assert bundle.process_args({"command": ["/c"], "args": ["y"]}, image) == ["/c", "y"]
    env = bundle.process_env({"env": [{"name": "A", "value": "pod"}, {"name": "B", "value": "$(A)-b"}]}, image)
    assert env == ["PATH=/bin", "A=pod", "B=pod-b"]

    res = bundle.resources({"resources": {"requests": {"cpu": "250m"},
                                          "limits": {"cpu": "1", "memory": "64Mi"}}}, 100)
    assert res["cpu"] == {"shares": 256, "quota": 100_000, "period": 100_000}
    assert res["memory"]["limit"] == 64 * 2**20 and res["pids"] == {"limit": 100}

    files = bundle.PodFiles("h", "/n", "/i", "/u", "/hosts", "/resolv", "/hostname")
    pod_ = {"metadata": {"name": "p"}, "spec": {}}
    plain = bundle.config(pod_, {"securityContext": {"allowPrivilegeEscalation": False}},
                          {}, "/r", files, "/pyctl/podx/c")
    assert plain["process"]["noNewPrivileges"] is True
    assert "CAP_SYS_ADMIN" not in plain["process"]["capabilities"]["bounding"]
    assert "/proc/kcore" in plain["linux"]["maskedPaths"]
    assert {"type": "network", "path": "/n"} in plain["linux"]["namespaces"]
    priv = bundle.config(pod_, {"securityContext": {"privileged": True}}, {}, "/r", files, "/c")
    assert "CAP_SYS_ADMIN" in priv["process"]["capabilities"]["bounding"]
    assert "maskedPaths" not in priv["linux"]


async def test_pods_started_and_stopped_concurrently_get_distinct_ips(node: Node) -> None:
    pods = [pod(f"p{i}", [container("c", "sleep", "3600")]) for i in range(4)]
    started = await asyncio.gather(*(node.rt.start_pod(p) for p in pods))
    assert len({rp.pod_ip for rp in started}) == 4 and all(rp.pod_ip for rp in started)
    assert all(rp.containers[0].state == "running" for rp in started)
    await asyncio.gather(*(node.rt.stop_pod(p["metadata"]["uid"], 0) for p in pods))
    for p in pods:
        node.assert_nothing_left(p["metadata"]["uid"])


async def test_a_sandbox_half_made_before_a_crash_is_removed_on_adoption(node: Node) -> None:
    uid = str(uuid.uuid4())
    half = node.state / "pods" / uid
    nsmod.create(half / "ns", "half")  # the agent died after creating the namespaces
    assert await node.runtime().list_pods() == []
    assert not half.exists() and nsmod.mounts_under(node.state) == []


async def test_a_container_created_while_cni_ran_is_removed_when_the_agent_died_meanwhile(node: Node) -> None:
    """`runc create` runs beside CNI ADD (the pod's config names no pod IP): an agent that dies
    before the sandbox is recorded leaves a created container, its conmon and an IP; the next
    agent's adoption removes them all."""
    p = pod("early", [container("c", "sleep", "3600")])
    uid = p["metadata"]["uid"]
    rt, add, frozen = node.rt, node.rt.cni.add, asyncio.Event()

    async def add_then_die(*args, **kwargs):
        await add(*args, **kwargs)
        await frozen.wait()  # never set: the agent "died" right after CNI ADD
    rt.cni.add = add_then_die  # type: ignore[method-assign]
    starting = asyncio.create_task(rt.start_pod(p))

    def created() -> bool:
        out = subprocess.run(["runc", "--root", str(node.state / "runc"), "list", "--format", "json"],
                             capture_output=True, text=True, check=True).stdout
        return any(uid[:13] in c["id"] and c["status"] == "created" for c in json.loads(out or "null") or [])
    for _ in range(200):  # bounded: the create takes well under a second
        if created():
            break
        await asyncio.sleep(0.05)
    assert created() and not starting.done()
    assert host_local_allocations(node.state / "cni", uid) != []
    assert await node.runtime().list_pods() == []  # the restarted agent's first look
    node.assert_nothing_left(uid)
    starting.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await starting


async def test_limits_user_and_privileges_take_effect_in_the_container(node: Node) -> None:
    sec = {"runAsUser": 1000, "runAsGroup": 1000, "allowPrivilegeEscalation": False}
    res = {"requests": {"cpu": "250m"}, "limits": {"cpu": "500m", "memory": "64Mi"}}
    script = ("id -u; id -g; grep NoNewPrivs /proc/self/status; grep CapEff /proc/self/status; "
              "echo done; exec sleep 3600")
    p = pod("limited", [container("c", "sh", "-c", script, securityContext=sec, resources=res)])
    uid = p["metadata"]["uid"]
    rp = await node.rt.start_pod(p)
    await node.wait(uid, "c", "running")
    cg = f"{node.cgroup_parent}/pod{uid}/{rp.containers[0].container_id.removeprefix('runc://')}"
    root = Path("/sys/fs/cgroup")
    assert (root / "cpu" / cg / "cpu.shares").read_text().strip() == "256"
    assert (root / "cpu" / cg / "cpu.cfs_quota_us").read_text().strip() == "50000"
    assert (root / "memory" / cg / "memory.limit_in_bytes").read_text().strip() == str(64 * 2**20)
    assert (root / "pids" / cg / "pids.max").read_text().strip() == "4096"
    log = node.rt.log_path(uid, "c")
    assert log is not None
    lines: list[str] = []
    for _ in range(100):
        lines = [ln.split(" ", 3)[3] for ln in log.read_text().splitlines()]
        if "done" in lines:
            break
        await asyncio.sleep(0.05)
    assert lines[:3] == ["1000", "1000", "NoNewPrivs:\t1"]
    assert lines[3:] == ["CapEff:\t0000000000000000", "done"]  # a non-root user: no caps
    await node.rt.stop_pod(uid, 0)
    node.assert_nothing_left(uid)
