"""RuncRuntime: real pods on this node through netns + CNI + conmon + runc.

Owns the agent's on-disk pod state, which is all it needs to re-adopt pods after a
restart (conmon keeps containers alive meanwhile):

    <state>/runc/                 runc --root (only pyctl's containers)
    <state>/exits/ sockets/       conmon exit files and attach sockets
    <state>/cni/                  host-local IP allocations
    <state>/pods/<uid>/pod.json   the pod, its CNI attachment (pod IP), start time
    <state>/pods/<uid>/ns/        pinned net/ipc/uts namespaces
    <state>/pods/<uid>/etc/       hosts, resolv.conf, hostname
    <state>/pods/<uid>/volumes/   emptyDirs
    <state>/pods/<uid>/containers/<name>/meta.json, <cid>/ (bundle, overlay rootfs)
    <state>/pods/<uid>/logs/<name>/<restart>.log
    <state>/seccomp/              Localhost seccomp profiles (the administrator's)

Images come from the `rootfs_for(image, imagePullPolicy)` hook: it returns the image's layer directories
(top-most first) and its config (Entrypoint, Cmd, Env, WorkingDir, User).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import inspect
import json
import logging
import shutil
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any, Awaitable, Callable, Iterable, Union

from .. import events
from ..network import netns as nsmod
from ..network.cni import Attachment, Cni, NetworkConfig, host_port_mappings
from ..network.dns import resolv_conf
from . import bundle, conmon, overlay
from .base import NEVER_RAN, ContainerState, ExecCommand, ExecRefused, NodeUsage, Pod, PodUsage, RuntimePod
from .cgroups import Cgroups

log = logging.getLogger(__name__)

VERSION = "runc://1.1"
ImageConfig = dict[str, Any]
RootfsResult = tuple[list[str], ImageConfig]
# (image, imagePullPolicy) -> layer dirs and image config; "" policy: the kubelet's default.
RootfsResolver = Callable[[str, str], Union[RootfsResult, Awaitable[RootfsResult]]]


class _ImageError(Exception):
    """rootfs_for(image, policy) failed."""


Prepared = Union[tuple[Path, ImageConfig], Exception]
"""A first run's rootfs made ahead of its start (`RuncRuntime._prepare`), or why it failed."""


def _rfc3339(ts: float | None = None) -> str:
    t = dt.datetime.now(dt.timezone.utc) if ts is None else dt.datetime.fromtimestamp(ts, dt.timezone.utc)
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def _runs(meta: dict[str, Any]) -> bool:
    """Whether the run `meta` describes is still running, from /proc (see conmon.still_running)."""
    return conmon.still_running(meta.get("pid"), meta.get("pid_started"))


def names_pod_ip(pod: Pod) -> bool:
    """Whether anything in the pod's spec takes the pod's IP (a `fieldRef` to status.podIP or
    status.podIPs, in an env var or a downward API volume): its containers' configuration then
    waits for CNI to have given the pod its address."""
    def walk(node: Any) -> bool:
        if isinstance(node, dict):
            ref = node.get("fieldRef")
            if isinstance(ref, dict) and str(ref.get("fieldPath", "")).startswith("status.podIP"):
                return True
            return any(walk(v) for v in node.values())
        return isinstance(node, list) and any(walk(v) for v in node)
    return walk(pod.get("spec") or {})


def _write_json(path: Path, data: Any) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data))
    tmp.replace(path)


class RuncRuntime:
    name = "runc"
    version = VERSION
    config_source: Any = None
    """Set by the pod manager (agent/podconfig.PodConfigStore): resolves env and config volumes."""
    cluster_dns: str = ""
    """The node's cluster DNS address (agent/network/dns.py); "" = pods get the host's resolv.conf."""
    volume_source: Any = None
    """Set by the pod manager (agent/volumes/claims.ClaimMounts): where each claim volume is."""

    def __init__(self, state_dir: Path | str, network: NetworkConfig, rootfs_for: RootfsResolver,
                 cgroup_parent: str = "pyctl", pids_limit: int = 4096) -> None:
        self.state = Path(state_dir)
        self.pods_dir = self.state / "pods"
        self.pods_dir.mkdir(parents=True, exist_ok=True)
        # Root only: pods' Secret volumes and configs lie below (configvolumes.py); containers
        # never pass through these dirs (runc mounts as root, before pivot_root).
        for d in (self.state, self.pods_dir):
            d.chmod(0o700)
        self.paths = conmon.Paths(self.state / "runc", self.state / "exits", self.state / "sockets")
        self.paths.ensure()
        self.runc = conmon.Runc(self.paths)
        self.cni = Cni(network)
        self.rootfs_for = rootfs_for
        self.cgroup_parent = "/" + cgroup_parent.strip("/")
        self.pids_limit = pids_limit
        self._locks: dict[str, asyncio.Lock] = {}
        self.cgroups = Cgroups.detect()
        self._names: dict[str, tuple[str, str]] = {}  # pod uid -> (namespace, name), for usage()

    def _lock(self, uid: str) -> asyncio.Lock:
        return self._locks.setdefault(uid, asyncio.Lock())

    # -- Runtime ------------------------------------------------------------------------------

    async def start_pod(self, pod: Pod) -> RuntimePod:
        uid = pod["metadata"]["uid"]
        async with self._lock(uid):
            pdir = self.pods_dir / uid
            new = [c for c in (pod.get("spec") or {}).get("containers") or []
                   if not (pdir / "containers" / c["name"] / "meta.json").exists()]
            prepared: dict[str, Prepared] = {}
            created: dict[str, dict[str, Any]] = {}  # containers made while CNI ran, to start
            if not (pdir / "pod.json").exists():
                # Rootfs (image + overlay) and ServiceAccount tokens do not need the sandbox: made
                # while netns + CNI are, instead of after them (most of a start is waiting on those).
                pdir.mkdir(mode=0o700, parents=True, exist_ok=True)
                alongside = [self._prepare(pod, pdir, c, prepared) for c in new]
                if self.config_source is not None:
                    alongside.append(self._prefetch_config(pod))

                async def create_ahead() -> None:
                    for c in new:
                        created[c["name"]] = await self._create_container(
                            pdir, pod, "", c["name"], 0, None, prepared.get(c["name"]))

                # `runc create` needs the namespaces, not the interface CNI puts in them, unless
                # the container's configuration carries the pod's IP.
                ahead = None if names_pod_ip(pod) else create_ahead
                await self._create_sandbox(pod, pdir, alongside, ahead)
            for c in new:
                meta = created.get(c["name"])
                if meta is None:
                    await self._start_container(pdir, c["name"], 0, None, prepared.get(c["name"]))
                else:
                    await self._begin(pdir, meta)
            return await self._observe(pdir)

    async def restart_container(self, uid: str, name: str) -> None:
        async with self._lock(uid):
            pdir = self.pods_dir / uid
            meta_path = pdir / "containers" / name / "meta.json"
            if not meta_path.exists():
                return
            old = await self._container_state(pdir, json.loads(meta_path.read_text()))
            if old.state == "running":
                return
            meta = json.loads(meta_path.read_text())
            await self._remove_run(pdir, name, meta.get("cid", ""))
            if meta.get("error_reason") in NEVER_RAN:  # a retry, not a restart
                await self._start_container(pdir, name, meta.get("restart_count", 0), old.last_state)
                return
            old.last_state = None
            await self._start_container(pdir, name, meta.get("restart_count", 0) + 1, old)

    async def stop_container(self, uid: str, name: str, grace: float) -> None:
        async with self._lock(uid):
            meta = self._meta(uid, name)
            if meta and meta.get("cid") and not meta.get("error"):
                await conmon.stop(self.runc, meta["cid"], grace, _runs(meta))

    async def stop_containers(self, uid: str, grace: float) -> None:
        async with self._lock(uid):
            metas = [m for m in (self._meta(uid, p.parent.name)
                                 for p in (self.pods_dir / uid / "containers").glob("*/meta.json"))
                     if m and m.get("cid") and not m.get("error")]
            await asyncio.gather(*(conmon.stop(self.runc, m["cid"], grace, _runs(m)) for m in metas))

    async def exec_in_container(self, uid: str, name: str, argv: list[str],
                                timeout: float) -> tuple[int, str]:
        meta = self._meta(uid, name)
        if not meta or not meta.get("cid") or meta.get("error"):
            return 1, "container not running"
        # conmon._run kills the exec'd runc on timeout; the probe counts that as a failure.
        return await conmon._run(*self.runc._argv("exec", meta["cid"], *argv), timeout=timeout, check=False)

    async def exec_command(self, uid: str, name: str, argv: list[str], tty: bool) -> ExecCommand:
        meta = self._meta(uid, name)
        if not meta or not meta.get("cid") or meta.get("error"):
            raise ExecRefused(f'container "{name}" is not running')
        # One pid file per exec, in the pod's own dir so stop_pod removes any left over.
        execs = self.pods_dir / uid / "execs"
        try:
            execs.mkdir(exist_ok=True)
        except OSError as exc:  # the pod was removed meanwhile
            raise ExecRefused(f'container "{name}" is not running: {exc.strerror}') from None
        pid_file = execs / f"{time.monotonic_ns()}.pid"
        flags = ["--tty"] if tty else []
        return ExecCommand(self.runc._argv("exec", *flags, "--pid-file", str(pid_file), meta["cid"], *argv),
                           pid_file)

    def _meta(self, uid: str, name: str) -> dict[str, Any] | None:
        try:
            meta: dict[str, Any] = json.loads((self.pods_dir / uid / "containers" / name / "meta.json").read_text())
        except (OSError, ValueError):
            return None
        return meta

    async def stop_pod(self, uid: str, grace: float) -> None:
        async with self._lock(uid):
            pdir = self.pods_dir / uid
            if pdir.exists():
                await self._teardown(pdir, grace)
        self._locks.pop(uid, None)

    async def pod_status(self, uid: str) -> RuntimePod | None:
        try:
            return await self._observe(self.pods_dir / uid)
        except (OSError, ValueError):  # never started, or stopped meanwhile
            return None

    async def usage(self) -> NodeUsage:
        """The node's root cgroup and each running container's, read off the event loop."""
        return await asyncio.to_thread(self._usage)

    def _usage(self) -> NodeUsage:
        out = NodeUsage(self.cgroups.read("/"))
        for pdir in self.pods_dir.iterdir():
            uid = pdir.name
            names = self._names.get(uid)
            try:
                if names is None:
                    md = json.loads((pdir / "pod.json").read_text())["pod"]["metadata"]
                    names = self._names[uid] = (md.get("namespace", "default"), md["name"])
                pod = PodUsage(names[0], names[1], uid)
                for meta_path in (pdir / "containers").glob("*/meta.json"):
                    meta = json.loads(meta_path.read_text())
                    if meta.get("cid") and not meta.get("error") and _runs(meta):
                        counters = self.cgroups.read(meta["cgroups_path"])
                        if counters is not None:
                            pod.containers[meta["name"]] = (meta["cid"], counters)
            except (OSError, ValueError, KeyError):
                continue  # being made or removed right now: next time
            if pod.containers:
                out.pods.append(pod)
        for gone in set(self._names) - {p.name for p in self.pods_dir.iterdir()}:
            del self._names[gone]
        return out

    async def list_pods(self) -> list[RuntimePod]:
        out = []
        for pdir in sorted(self.pods_dir.iterdir()):
            if not (pdir / "pod.json").exists():
                if not self._lock(pdir.name).locked():
                    # A sandbox half-made by an agent that crashed: nobody can adopt it.
                    log.warning("removing half-created pod sandbox %s", pdir.name)
                    await self.stop_pod(pdir.name, 0)
                continue
            rp = await self.pod_status(pdir.name)
            if rp is not None:
                out.append(rp)
        return out

    def log_path(self, uid: str, name: str) -> Path | None:
        """The CRI-format (k8s-file) log of a container's current run, for `pyctl logs`;
        `<restart>.log` beside it holds earlier runs until the pod is stopped."""
        try:
            meta = json.loads((self.pods_dir / uid / "containers" / name / "meta.json").read_text())
        except (OSError, ValueError):
            return None
        return Path(meta["log"])

    async def close(self) -> None:
        """Containers keep running under conmon; the next RuncRuntime re-adopts them."""

    # -- sandbox -------------------------------------------------------------------------------

    async def _create_sandbox(self, pod: Pod, pdir: Path, alongside: Iterable[Awaitable[None]] = (),
                              ahead: Callable[[], Awaitable[None]] | None = None) -> None:
        """netns + CNI ADD + pod files; `alongside` (which never raise) run meanwhile. Once they
        have ended and the namespaces exist, `ahead` (which never raises) runs while CNI ADD
        still does, with the pod files made as far as they can be without the pod's IP. All
        have ended when this returns or raises, so a teardown never races one of their mounts."""
        md, spec = pod["metadata"], pod.get("spec") or {}
        hostname = (spec.get("hostname") or md["name"])[:63]
        pdir.mkdir(mode=0o700, parents=True, exist_ok=True)
        namespaces = asyncio.ensure_future(asyncio.to_thread(nsmod.create, pdir / "ns", hostname))

        async def network() -> Attachment:
            ns = await namespaces
            return await self.cni.add(self._cni_id(md["uid"]), ns.net, host_port_mappings(pod))

        async def before_network() -> None:
            await asyncio.gather(*alongside, return_exceptions=True)
            if ahead is None:
                return
            try:
                await namespaces
            except Exception:  # noqa: BLE001  (network() raises it for the sandbox)
                return
            # /etc/hosts is bind-mounted by inode: rewritten in place with the IP below.
            self._write_etc(pdir, pod, hostname, "")
            self._make_volumes(pdir, pod)
            await ahead()

        try:
            net = asyncio.ensure_future(network())
            await asyncio.gather(net, before_network(), return_exceptions=True)
            att = net.result()  # (its exception, if it failed)
            # Write pod.json first so a crash from here on is cleaned by stop_pod.
            _write_json(pdir / "pod.json", {"pod": pod, "attachment": att.to_json(),
                                            "started_at": _rfc3339()})
            self._write_etc(pdir, pod, hostname, att.pod_ip)
            self._make_volumes(pdir, pod)
        except BaseException:
            await self._teardown(pdir, 0)
            raise

    def _cni_id(self, uid: str) -> str:
        return f"pyctl-{uid}"

    def _write_etc(self, pdir: Path, pod: Pod, hostname: str, ip: str) -> None:
        etc = pdir / "etc"
        etc.mkdir(exist_ok=True)
        hosts = ["127.0.0.1\tlocalhost", "::1\tlocalhost ip6-localhost ip6-loopback"]
        if ip:
            hosts.append(f"{ip}\t{hostname}")
        for alias in (pod.get("spec") or {}).get("hostAliases") or []:
            hosts.append(f"{alias['ip']}\t{' '.join(alias.get('hostnames') or [])}")
        (etc / "hosts").write_text("\n".join(hosts) + "\n")
        (etc / "hostname").write_text(hostname + "\n")
        dns = (pod.get("spec") or {}).get("dnsConfig") or {}
        if dns.get("nameservers"):
            lines = [f"nameserver {n}" for n in dns["nameservers"]]
            if dns.get("searches"):
                lines.append("search " + " ".join(dns["searches"]))
            (etc / "resolv.conf").write_text("\n".join(lines) + "\n")
        elif self.cluster_dns and (pod.get("spec") or {}).get("dnsPolicy", "ClusterFirst") == "ClusterFirst":
            namespace = (pod.get("metadata") or {}).get("namespace") or "default"
            (etc / "resolv.conf").write_text(resolv_conf(self.cluster_dns, namespace))
        else:
            try:
                shutil.copyfile("/etc/resolv.conf", etc / "resolv.conf")
            except OSError:
                (etc / "resolv.conf").write_text("")

    def _make_volumes(self, pdir: Path, pod: Pod) -> None:
        for v in (pod.get("spec") or {}).get("volumes") or []:
            if "hostPath" in v:
                hp = v["hostPath"]
                if hp.get("type") in ("DirectoryOrCreate",):
                    Path(hp["path"]).mkdir(parents=True, exist_ok=True)
            elif "emptyDir" in v:
                (pdir / "volumes" / v["name"]).mkdir(parents=True, exist_ok=True)

    def _volume_paths(self, pdir: Path, pod: Pod) -> dict[str, str]:
        out = {}
        for v in (pod.get("spec") or {}).get("volumes") or []:
            if "hostPath" in v:
                out[v["name"]] = v["hostPath"]["path"]
            elif "emptyDir" in v:
                out[v["name"]] = str(pdir / "volumes" / v["name"])
        return out

    # -- containers ----------------------------------------------------------------------------

    def _cgroups_path(self, uid: str, cid: str) -> str:
        return f"{self.cgroup_parent}/pod{uid}/{cid}"

    def _cid(self, uid: str, name: str, restarts: int) -> str:
        return f"pyctl-{uid[:13]}-{name[:24]}-{restarts}"

    async def _rootfs(self, pod: Pod, container: dict[str, Any], bdir: Path) -> tuple[Path, ImageConfig]:
        """The container's image (pulled when needed) mounted as its overlay rootfs in `bdir`."""
        name = container["name"]
        try:
            pulling = self.config_source.pulling(pod) if self.config_source else contextlib.nullcontext()
            # The pod's imagePullSecrets for this pull; its pull events are about this container.
            with pulling, events.container(name):
                lowerdirs, image_cfg = await self._resolve(container.get("image", ""),
                                                           container.get("imagePullPolicy", ""))
        except Exception as e:  # the images hook's failure, reported under its own reason
            raise _ImageError(str(e)) from e
        bdir.mkdir(parents=True, exist_ok=True)
        return await asyncio.to_thread(overlay.mount_rootfs, lowerdirs, bdir), image_cfg

    async def _prepare(self, pod: Pod, pdir: Path, container: dict[str, Any],
                       prepared: dict[str, "Prepared"]) -> None:
        """`_rootfs` of a first run ahead of its start; a failure is kept for the start to report."""
        name = container["name"]
        bdir = pdir / "containers" / name / self._cid(pod["metadata"]["uid"], name, 0)
        try:
            prepared[name] = await self._rootfs(pod, container, bdir)
        except Exception as e:
            prepared[name] = e

    async def _prefetch_config(self, pod: Pod) -> None:
        """The pod's ServiceAccount tokens ahead of its first container's start (which asks
        again, and then reports a failure: tokens held are not fetched twice)."""
        try:
            await self.config_source.prepare(pod)
        except Exception as e:
            log.debug("pod %s: tokens ahead of start: %s", pod["metadata"]["uid"], e)

    async def _start_container(self, pdir: Path, name: str, restarts: int,
                               last: ContainerState | None, prepared: "Prepared | None" = None) -> None:
        info = json.loads((pdir / "pod.json").read_text())
        pod_ip = Attachment.from_json(info["attachment"]).pod_ip
        meta = await self._create_container(pdir, info["pod"], pod_ip, name, restarts, last, prepared)
        await self._begin(pdir, meta)

    async def _create_container(self, pdir: Path, pod: Pod, pod_ip: str, name: str, restarts: int,
                                last: ContainerState | None, prepared: "Prepared | None") -> dict[str, Any]:
        """The run's bundle and its container created under conmon, not yet started; its
        meta.json names no PID until `_begin` (a created container is not running). A failure is
        recorded in the meta, as the run's end."""
        uid = pod["metadata"]["uid"]
        container = next(c for c in pod["spec"]["containers"] if c["name"] == name)
        cid = self._cid(uid, name, restarts)
        cdir = pdir / "containers" / name
        bdir = cdir / cid
        bdir.mkdir(parents=True, exist_ok=True)
        meta: dict[str, Any] = {"name": name, "cid": cid, "restart_count": restarts, "image": container.get("image", ""),
                                "cgroups_path": self._cgroups_path(uid, cid),
                                "log": str(pdir / "logs" / name / f"{restarts}.log"),
                                "last": asdict(last) if last else None}
        try:
            if isinstance(prepared, Exception):
                raise prepared
            rootfs, image_cfg = prepared or await self._rootfs(pod, container, bdir)
            ns = nsmod.PodNamespaces(pdir / "ns")
            env, config_volumes, private = None, {}, None
            if self.config_source is not None:  # Secrets/ConfigMaps: memory and a tmpfs only
                env = self.config_source.env(pod, container, pod_ip)
                await self.config_source.prepare(pod)  # its ServiceAccount tokens, via the gateway
                config_volumes = await asyncio.to_thread(self.config_source.volumes, pod,
                                                         pdir / "config-volumes", pod_ip)
                private = await asyncio.to_thread(self.config_source.private_dir, container, pdir / "private")
                for stale in private.glob(f"pyctl-{uid[:13]}-{name[:24]}-*.json") if private else []:
                    stale.unlink(missing_ok=True)  # earlier runs' configs (their bundles are gone)
            claims, claims_read_only = self.volume_source.paths(pod) if self.volume_source else ({}, set())
            files = bundle.PodFiles(
                hostname=(pdir / "etc" / "hostname").read_text().strip(),
                netns=str(ns.net), ipcns=str(ns.path("ipc")), utsns=str(ns.path("uts")),
                hosts=str(pdir / "etc" / "hosts"), resolv_conf=str(pdir / "etc" / "resolv.conf"),
                hostname_file=str(pdir / "etc" / "hostname"),
                volumes={**self._volume_paths(pdir, pod), **claims, **config_volumes},
                read_only=set(config_volumes) | claims_read_only)
            cfg = bundle.config(pod, container, image_cfg, str(rootfs), files,
                                meta["cgroups_path"], self.pids_limit, self.state / "seccomp", env=env)
            bundle.write(bdir, cfg, private)
            meta["started_at"] = _rfc3339()
            _write_json(cdir / "meta.json", meta)
            meta["created_pid"] = await conmon.create(self.runc, cid, name, bdir, Path(meta["log"]))
        except (_ImageError, conmon.RuntimeCommandError, ValueError, OSError, LookupError) as e:
            self._failed(meta, uid, e)  # meta.json is written by `_begin`, which follows every create
        return meta

    async def _begin(self, pdir: Path, meta: dict[str, Any]) -> None:
        """Start what `_create_container` made, and record its PID: from now it runs."""
        pid = meta.pop("created_pid", None)
        if pid is not None:
            try:
                await conmon.begin(self.runc, meta["cid"], pid)
                meta["pid"], meta["pid_started"] = pid, conmon.start_time(pid)
            except conmon.RuntimeCommandError as e:
                self._failed(meta, pdir.name, e)
        _write_json(pdir / "containers" / meta["name"] / "meta.json", meta)

    @staticmethod
    def _failed(meta: dict[str, Any], uid: str, e: Exception) -> None:
        # Reported as Kubernetes does for containerd: terminated, StartError, exit 128 (an
        # exited state, so the pod worker retries it with back-off).
        log.warning("pod %s container %s failed to start: %s", uid, meta["name"], e)
        reason = "ErrImagePull" if isinstance(e, _ImageError) else \
            "CreateContainerConfigError" if isinstance(e, bundle.ConfigError) else "StartError"
        meta.update(error=str(e), error_reason=reason, finished_at=_rfc3339())

    async def _resolve(self, image: str, policy: str) -> RootfsResult:
        res = self.rootfs_for(image, policy)
        if inspect.isawaitable(res):
            res = await res
        return res  # type: ignore[return-value]

    async def _container_state(self, pdir: Path, meta: dict[str, Any]) -> ContainerState:
        name = meta["name"]
        cid = meta["cid"]
        last = ContainerState(**meta["last"]) if meta.get("last") else None
        cs = ContainerState(name=name, container_id=f"runc://{cid}", image=meta.get("image", ""),
                            image_id=meta.get("image", ""), restart_count=meta.get("restart_count", 0),
                            started_at=meta.get("started_at", ""), last_state=last)
        if meta.get("error"):
            cs.state, cs.exit_code, cs.message = "exited", 128, meta["error"]
            cs.reason = meta.get("error_reason", "StartError")
            cs.finished_at = meta.get("finished_at", "")
            return cs
        ended = conmon.exit_code(self.paths, cid)
        if ended is None and _runs(meta):
            # What `runc state` would answer, without a runc process per look (every resync).
            cs.state, cs.ready = "running", True
            return cs
        if ended is None:
            st = await self.runc.state(cid)
            if st is not None and st.get("status") == "running":
                cs.state, cs.ready = "running", True
                return cs
            if st is not None and st.get("status") == "created":
                cs.state, cs.reason = "waiting", "ContainerCreating"
                return cs
            bdir = pdir / "containers" / name / cid
            ended = await self._exit_soon(cid, bdir)
            if ended is None:
                # Gone without an exit file (conmon killed, node rebooted): unknown end.
                cs.state, cs.exit_code, cs.reason = "exited", 137, "ContainerStatusUnknown"
                return cs
        code, when = ended
        cs.state, cs.exit_code, cs.finished_at = "exited", code, _rfc3339(when)
        bdir = pdir / "containers" / name / cid
        if conmon.oom_killed(bdir, meta["cgroups_path"]):
            cs.reason = "OOMKilled"
        else:
            cs.reason = "Completed" if code == 0 else "Error"
        return cs

    async def _exit_soon(self, cid: str, bdir: Path) -> tuple[int, float] | None:
        """runc says stopped a moment before conmon writes the exit file: wait for it while
        conmon lives (bounded), so an exit is never misreported as unknown."""
        deadline = time.monotonic() + 2
        while conmon.conmon_pid(bdir) is not None and time.monotonic() < deadline:
            ended = conmon.exit_code(self.paths, cid)
            if ended is not None:
                return ended
            await asyncio.sleep(0.02)
        return conmon.exit_code(self.paths, cid)

    async def _observe(self, pdir: Path) -> RuntimePod:
        info = json.loads((pdir / "pod.json").read_text())
        md = info["pod"]["metadata"]
        att = Attachment.from_json(info["attachment"])
        rp = RuntimePod(uid=md["uid"], namespace=md.get("namespace", "default"), name=md["name"],
                        pod_ip=att.pod_ip, started_at=info.get("started_at", ""))
        for c in info["pod"]["spec"].get("containers") or []:
            meta_path = pdir / "containers" / c["name"] / "meta.json"
            if meta_path.exists():
                rp.containers.append(await self._container_state(pdir, json.loads(meta_path.read_text())))
            else:
                rp.containers.append(ContainerState(name=c["name"], image=c.get("image", ""),
                                                    reason="ContainerCreating"))
        return rp

    async def _remove_run(self, pdir: Path, name: str, cid: str, grace: float = 0,
                          running: bool = False) -> None:
        if not cid:
            return
        bdir = pdir / "containers" / name / cid
        await conmon.stop(self.runc, cid, grace, running)
        await conmon.remove(self.runc, cid, bdir)
        await asyncio.to_thread(overlay.unmount_rootfs, bdir)
        shutil.rmtree(bdir, ignore_errors=True)

    # -- teardown ------------------------------------------------------------------------------

    async def _teardown(self, pdir: Path, grace: float) -> None:
        """Stop containers, CNI DEL, drop namespaces, mounts, cgroups and the pod directory."""
        uid = pdir.name
        runs = []
        cdir = pdir / "containers"
        if cdir.exists():
            for meta_path in cdir.glob("*/meta.json"):
                meta = json.loads(meta_path.read_text())
                runs.append(self._remove_run(pdir, meta_path.parent.name, meta.get("cid", ""), grace,
                                             _runs(meta)))
        # Runs whose meta.json was never written (crash mid-start) still have a bundle dir.
        await asyncio.gather(*runs)
        for bdir in cdir.glob("*/pyctl-*") if cdir.exists() else []:
            await self._remove_run(pdir, bdir.parent.name, bdir.name)
        info_path = pdir / "pod.json"
        if info_path.exists():
            att = Attachment.from_json(json.loads(info_path.read_text())["attachment"])
            await self.cni.delete(att)
        else:
            # ADD may have run before pod.json was written: a DEL of the chain is harmless.
            net = nsmod.PodNamespaces(pdir / "ns").net
            att = Attachment(self._cni_id(uid), str(net), self.cni.config.conflist(False))
            try:
                await self.cni.delete(att)
            except Exception as e:  # best effort on a half-made sandbox
                log.warning("CNI DEL for half-made pod %s: %s", uid, e)
        await asyncio.to_thread(nsmod.delete, pdir / "ns")
        for target in nsmod.mounts_under(pdir):  # anything a crash left mounted
            await conmon._run("umount", "-l", target, check=False)
        self._remove_cgroups(uid)
        shutil.rmtree(pdir, ignore_errors=True)

    def _remove_cgroups(self, uid: str) -> None:
        for ctrl in conmon.CGROUP_V1.iterdir():
            pod_cg = ctrl / self.cgroup_parent.lstrip("/") / f"pod{uid}"
            for d in sorted(pod_cg.glob("**/"), key=lambda p: len(str(p)), reverse=True) if pod_cg.is_dir() else []:
                try:
                    d.rmdir()
                except OSError as e:
                    log.warning("cannot remove cgroup %s: %s", d, e)
            try:  # the parent goes once empty; a busy parent stays for the next pod
                (ctrl / self.cgroup_parent.lstrip("/")).rmdir()
            except OSError:
                pass
