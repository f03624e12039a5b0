"""Remove what a node's agent made and left behind once the agent is stopped: its runc
containers, their conmon monitors, overlay and namespace mounts, and pod cgroups.

An agent that stops leaves its pods running on purpose (DESIGN §1: conmon keeps them alive
for the next agent), so `down` clears them itself, and only by the node's own ids: the
runc root, the state dir and the cgroup parent recorded for that node. The node's local
volumes live in its state dir (loop-mounted images): they are unmounted, their loop devices
freed, and go with the directory. Last, `down` stops
any process still naming the cluster's state dir (`kill_mentioning`), whatever its pidfile says.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

from agent.network.netns import mounts_under

from .state import Node

RUNC = "/usr/sbin/runc"
CGROUPS = Path("/sys/fs/cgroup")


def runc_root(n: Node) -> Path:
    """Where the agent's RuncRuntime keeps runc's state (`<state>/runtime/runc`)."""
    return Path(n.state_dir) / "runtime" / "runc"


def containers(n: Node) -> list[str]:
    root = runc_root(n)
    if not root.is_dir():
        return []
    res = subprocess.run([RUNC, "--root", str(root), "list", "--format", "json"],
                         capture_output=True, text=True)
    return [c["id"] for c in json.loads(res.stdout or "null") or []] if res.returncode == 0 else []


def processes_mentioning(text: str) -> list[int]:
    """Live pids whose command line contains `text` (conmon names the runc root and bundle)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            state = (entry / "stat").read_text().rpartition(")")[2].split()[0]
        except (OSError, IndexError):
            continue
        if state != "Z" and text in cmd:
            pids.append(int(entry.name))
    return pids


def kill_mentioning(text: str, timeout: float = 10) -> list[int]:
    """SIGKILL every process whose command line contains `text` and wait (up to `timeout`
    seconds) until none is left; the pids killed."""
    pids = processes_mentioning(text)
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + timeout
    while pids and processes_mentioning(text) and time.monotonic() < deadline:
        time.sleep(0.05)
    return pids


def cgroup_dirs(parent: str) -> list[Path]:
    """Every cgroup at or below `parent`, in every hierarchy, deepest first."""
    dirs: list[Path] = []
    for ctrl in CGROUPS.iterdir() if CGROUPS.is_dir() else []:
        top = ctrl / parent
        if top.is_dir() and not top.is_symlink():
            dirs += [Path(p) for p, _, _ in os.walk(top)]
    return sorted(set(dirs), key=lambda p: len(str(p)), reverse=True)


def loop_devices(root: Path) -> list[str]:
    """Loop devices backed by a file under `root` (local volumes' images), as /dev paths."""
    prefix = str(root).rstrip("/") + "/"
    found = []
    for backing in Path("/sys/block").glob("loop*/loop/backing_file"):
        try:
            if backing.read_text().strip().startswith(prefix):
                found.append(f"/dev/{backing.parent.parent.name}")
        except OSError:
            continue
    return found


def clear(n: Node) -> list[str]:
    """Remove the node's containers, monitors, mounts and cgroups; return what would not go."""
    root = str(runc_root(n))
    for cid in containers(n):
        subprocess.run([RUNC, "--root", root, "kill", "--all", cid, "KILL"], capture_output=True)
        subprocess.run([RUNC, "--root", root, "delete", "--force", cid], capture_output=True)
    # The trailing slash keeps node-1 from matching node-10's paths.
    kill_mentioning(n.state_dir + "/")
    for target in mounts_under(Path(n.state_dir)):
        subprocess.run(["umount", "-l", target], capture_output=True)
    # The agent's local volumes were loop-mounted images: unmounted, their devices are freed
    # (autoclear) once nothing holds them; free any still attached, so no device keeps a file.
    for attempt in range(50):
        devices = loop_devices(Path(n.state_dir))
        for device in devices:
            subprocess.run(["losetup", "-d", device], capture_output=True)
        if not devices or not loop_devices(Path(n.state_dir)):
            break
        time.sleep(0.05)
    problems = []
    for d in cgroup_dirs(n.cgroup_parent):
        for attempt in range(50):  # a cgroup whose last task just died may be busy for a moment
            try:
                d.rmdir()
                break
            except FileNotFoundError:
                break
            except OSError as e:
                if attempt == 49:
                    problems.append(f"cgroup {d}: {e.strerror}")
                time.sleep(0.02)
    problems += [f"container {cid} in {root}" for cid in containers(n)]
    problems += [f"mount {t}" for t in mounts_under(Path(n.state_dir))]
    problems += [f"loop device {d} (a local volume's image)" for d in loop_devices(Path(n.state_dir))]
    return problems
