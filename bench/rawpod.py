"""The raw baseline for pod start: the same steps the agent takes, without pyctl around them.

A pinned netns (agent.network.netns), CNI ADD on a bridge of its own (agent.network.cni),
an overlay rootfs of the cached image layers (agent.runtime.overlay), the same OCI
config.json (agent.runtime.bundle), then `runc run -d`: no API, scheduler, gateway,
conmon or status reporting. `RawPods.remove_all()` undoes every step for every pod.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import uuid
from pathlib import Path

from agent.images import ImageStore, RegistryClient
from agent.network import netns as nsmod
from agent.network.cni import Attachment, Cni, NetworkConfig
from agent.runtime import bundle, overlay

from .realnode import remove_cgroups


class RawPods:
    def __init__(self, base: Path, cidr: str, bridge: str, cgroup_parent: str) -> None:
        self.base, self.bridge, self.cgroup_parent = base, bridge, cgroup_parent
        self.runc_root = base / "runc"
        self.runc_root.mkdir(parents=True, exist_ok=True)
        self.cni = Cni(NetworkConfig(pod_cidr=cidr, bridge=bridge, data_dir=base / "cni"))
        self.images = ImageStore(base / "images", RegistryClient(auth_file="/nonexistent"))
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
            subprocess.run(["umount", "-l", target], capture_output=True)
        subprocess.run(["ip", "link", "del", self.bridge], capture_output=True)
        remove_cgroups(self.cgroup_parent)
        await self.images.close()
