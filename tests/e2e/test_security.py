"""Hardened containers on a real node (root, runc): seccomp RuntimeDefault, capabilities,
readOnlyRootFilesystem, runAsNonRoot and Localhost profiles, seen from inside the container
and in the status the pod worker reports."""

from __future__ import annotations

from typing import Any

from agent.pods import PodTimings, PodManager

from ..cluster import wait_until
from .helpers import container, pod
from .test_runtime import Node, node, pytestmark as runtime_marks  # noqa: F401 (node: the fixture)

pytestmark = runtime_marks


async def run_script(node: Node, script: str, **extra: Any) -> list[str]:
    """Run `script` in a one-container pod until it exits; its output lines."""
    volumes = extra.pop("volumes", None)
    p = pod("sec", [container("c", "sh", "-c", script, **extra)], **({"volumes": volumes} if volumes else {}))
    uid = p["metadata"]["uid"]
    await node.rt.start_pod(p)
    try:
        await node.wait(uid, "c", "exited")
        log = node.rt.log_path(uid, "c")
        assert log is not None
        return [ln.split(" ", 3)[3] for ln in log.read_text().splitlines()]
    finally:
        await node.rt.stop_pod(uid, 0)
        node.assert_nothing_left(uid)


ESCAPES = ("mkdir -p /mnt; mount -t tmpfs x /mnt 2>&1; echo mount=$?; "
           "echo junk > /tmp/m.ko; insmod /tmp/m.ko 2>&1; echo insmod=$?; "
           "unshare -U true 2>&1; echo unshare=$?; "
           "grep Seccomp: /proc/self/status")


async def test_runtime_default_seccomp_blocks_mount_modules_and_user_namespaces(node: Node) -> None:
    lines = await run_script(node, ESCAPES)
    # busybox words EPERM from mount(2) as "permission denied".
    assert lines[:2] == ["mount: permission denied (are you root?)", "mount=1"], lines
    assert any("insmod" in ln and "Operation not permitted" in ln for ln in lines), lines
    assert "insmod=1" in lines, lines
    assert any(ln.startswith("unshare:") and "Operation not permitted" in ln for ln in lines), lines
    assert "unshare=1" in lines, lines
    assert "Seccomp:\t2" in lines, lines  # a filter is installed


async def test_unconfined_lifts_the_filter_but_not_the_missing_capabilities(node: Node) -> None:
    lines = await run_script(node, ESCAPES, securityContext={"seccompProfile": {"type": "Unconfined"}})
    assert "Seccomp:\t0" in lines, lines
    # A user namespace needs no capability: only seccomp kept it from the default container.
    assert "unshare=0" in lines, lines
    assert lines[:2] == ["mount: permission denied (are you root?)", "mount=1"], lines


async def test_read_only_root_with_a_writable_empty_dir_and_dev_shm(node: Node) -> None:
    script = ("touch /x 2>&1; echo root=$?; touch /scratch/y; echo scratch=$?; "
              "touch /dev/shm/z; echo shm=$?")
    lines = await run_script(node, script, securityContext={"readOnlyRootFilesystem": True},
                             volumeMounts=[{"name": "scratch", "mountPath": "/scratch"}],
                             volumes=[{"name": "scratch", "emptyDir": {}}])
    assert "touch: /x: Read-only file system" in lines, lines
    assert lines[-3:] == ["root=1", "scratch=0", "shm=0"], lines


async def test_a_non_root_user_keeps_only_added_capabilities(node: Node) -> None:
    sec = {"runAsUser": 1000, "capabilities": {"add": ["NET_BIND_SERVICE"]}}
    lines = await run_script(node, "grep CapEff /proc/self/status; nc -l -p 80 -w 1 & sleep 0.3; "
                                   "netstat -ltn | grep -c ':80 '", securityContext=sec)
    assert lines[0] == "CapEff:\t0000000000000400", lines  # CAP_NET_BIND_SERVICE alone
    assert lines[-1] == "1", lines  # ...which lets uid 1000 listen on port 80


async def test_run_as_non_root_and_a_missing_localhost_profile_are_config_errors(node: Node) -> None:
    pm = PodManager(node.rt, "127.0.0.1", PodTimings(resync_period=0.5, backoff_base=0.2, backoff_max=1.0))
    p = pod("refused", [
        container("nonroot", "sleep", "3600", securityContext={"runAsNonRoot": True}),
        container("custom", "sleep", "3600", securityContext={
            "seccompProfile": {"type": "Localhost", "localhostProfile": "missing.json"}})],
        restartPolicy="Never", terminationGracePeriodSeconds=0)
    uid = p["metadata"]["uid"]

    def waiting() -> dict[str, Any]:
        st = (pm.workers[uid].reported if uid in pm.workers else None) or {}
        return {c["name"]: c["state"].get("waiting", {}) for c in st.get("containerStatuses") or []}

    try:
        pm.upsert(p)
        await wait_until(lambda: all(w.get("reason") == "CreateContainerConfigError"
                                     for w in waiting().values()) and len(waiting()) == 2, timeout=30)
        states = waiting()
        assert states["nonroot"]["message"] == (
            f'container has runAsNonRoot and image will run as root (pod: "refused_default({uid})", '
            f'container: nonroot)')
        assert states["custom"]["message"] == (
            f'cannot load seccomp profile "{node.state}/seccomp/missing.json": no such file')
        assert pm.workers[uid].reported["phase"] == "Pending"
        # Once the administrator installs the profile, the retried container starts.
        (node.state / "seccomp").mkdir(exist_ok=True)
        (node.state / "seccomp" / "missing.json").write_text('{"defaultAction": "SCMP_ACT_ALLOW"}')

        def custom_running() -> bool:
            st = pm.workers[uid].reported or {}
            return any(c["name"] == "custom" and "running" in c["state"] for c in st.get("containerStatuses") or [])
        await wait_until(custom_running, timeout=30)
    finally:
        pm.remove(p)
        await wait_until(lambda: uid not in pm.workers, timeout=30)
        await pm.stop()
    node.assert_nothing_left(uid)
