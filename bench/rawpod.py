"""The raw baseline for pod start: the same steps the agent takes, without pyctl around them.

A pinned netns (agent.network.netns), CNI ADD on a bridge of its own (agent.network.cni),
an overlay rootfs of the cached image layers (agent.runtime.overlay), the same OCI
config.json (agent.runtime.bundle), then `runc run -d`: no API, scheduler, gateway,
conmon or status reporting. It runs in the host's network namespace on a bridge and a /24 of
its own. `RawPods.remove_all()` undoes every step for every pod, and puts back the host's
ip_forward, which the CNI bridge plugin (isGateway) turns on.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import shutil
import subprocess
import uuid
from pathlib import Path

from agent.images import ImageStore, RegistryClient
from agent.network import netns as nsmod
from agent.network.cni import Attachment, Cni, NetworkConfig
from agent.runtime import bundle, overlay
from pyctl.localcluster.leftovers import cgroup_dirs

FORWARD = Path("/proc/sys/net/ipv4/ip_forward")


def free_cidr() -> str:
    """A /24 in 10.245.0.0/16 that no local route uses (e2e tests use 10.244.x)."""
    routes = subprocess.run(["ip", "-4", "route"], capture_output=True, text=True).stdout
    for _ in range(50):
        cidr = f"10.245.{random.randint(1, 254)}.0/24"
        if cidr.rsplit(".", 1)[0] + "." not in routes:
            return cidr
    raise RuntimeError("no free 10.245.x.0/24 for the benchmark's bridge")


class RawPods:
    def __init__(self, base: Path, mirrors: dict[str, str] | None = None) -> None:
        tag = uuid.uuid4().hex[:6]
        self.base, self.bridge, self.cgroup_parent = base, f"pyr{tag}", f"pyctl-bench-{tag}"
        self.forward = FORWARD.read_text()
        self.runc_root = base / "runc"
        self.runc_root.mkdir(parents=True, exist_ok=True)
        self.cni = Cni(NetworkConfig(pod_cidr=free_cidr(), bridge=self.bridge, data_dir=base / "cni"))
        self.images = ImageStore(base / "images", RegistryClient(auth_file="/nonexistent", mirrors=mirrors))
        self.started: list[tuple[str, Path, Attachment]] = []

    async def pull(self, image: str) -> tuple[list[str], dict]:
        """Pull once, before timing: the benchmark is about a cached image."""
        img = await self.images.ensure(image)
        c = img.config
        return list(img.lowerdirs), {"Entrypoint": c.entrypoint, "Cmd": c.cmd, "Env": c.env,
                                     "WorkingDir": c.working_dir, "User": c.user}

    async def start(self, name: str, image: str, layers: tuple[list[str], dict]) -> None:
        """netns + CNI ADD + overlay + config.json + `runc run -d`; returns once runc has."""
        uid = uuid.uuid4().hex
        cid = f"bench-raw-{uid[:12]}"
        pdir = self.base / "pods" / uid
        ns = await asyncio.to_thread(nsmod.create, pdir / "ns", name)
        att = await self.cni.add(cid, ns.net)
        self.started.append((cid, pdir, att))
        etc = pdir / "etc"
        etc.mkdir()
        (etc / "hosts").write_text(f"127.0.0.1\tlocalhost\n{att.pod_ip}\t{name}\n")
        (etc / "hostname").write_text(name + "\n")
        shutil.copyfile("/etc/resolv.conf", etc / "resolv.conf")
        bdir = pdir / "c"
        rootfs = await asyncio.to_thread(overlay.mount_rootfs, layers[0], bdir)
        files = bundle.PodFiles(hostname=name, netns=str(ns.net), ipcns=str(ns.path("ipc")),
                                utsns=str(ns.path("uts")), hosts=str(etc / "hosts"),
                                resolv_conf=str(etc / "resolv.conf"), hostname_file=str(etc / "hostname"))
        pod = {"metadata": {"name": name, "uid": uid}, "spec": {}}
        cfg = bundle.config(pod, {"name": "c", "image": image}, layers[1], str(rootfs), files,
                            f"/{self.cgroup_parent}/{cid}")
        bundle.write(bdir, cfg)
        # The container inherits runc's stdio: a pipe would never reach EOF, so errors go to a file.
        err = pdir / "runc.err"
        with err.open("wb") as f:
            proc = await asyncio.create_subprocess_exec(
                "runc", "--root", str(self.runc_root), "run", "-d", "--bundle", str(bdir), cid,
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=f)
            code = await asyncio.wait_for(proc.wait(), 60)
        if code != 0:
            raise RuntimeError(f"runc run {cid}: {err.read_text().strip()}")

    async def remove_all(self) -> None:
        for cid, pdir, att in reversed(self.started):
            for argv in (["kill", cid, "KILL"], ["delete", "--force", cid]):
                await asyncio.to_thread(subprocess.run, ["runc", "--root", str(self.runc_root), *argv],
                                        capture_output=True, timeout=30)
            await self.cni.delete(att)
            await asyncio.to_thread(overlay.unmount_rootfs, pdir / "c")
            await asyncio.to_thread(nsmod.delete, pdir / "ns")
        self.started.clear()
        for target in nsmod.mounts_under(self.base):
            nsmod.unmount(target)
        subprocess.run(["ip", "link", "del", self.bridge], capture_output=True)
        for d in cgroup_dirs(self.cgroup_parent):
            with contextlib.suppress(OSError):
                d.rmdir()
        FORWARD.write_text(self.forward)
        await self.images.close()
