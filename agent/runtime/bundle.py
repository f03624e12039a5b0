"""The OCI runtime bundle: config.json for one container of a pod.

What Kubernetes and CRI-O decide for a container, written down once: the process (image
Entrypoint/Cmd merged with command/args, env, workingDir, user), the pod's shared
net/ipc/uts namespaces by path with private mount/pid namespaces, /etc/hosts,
/etc/resolv.conf and /etc/hostname from the pod, volumes, the security context
(capabilities from Docker's default set with add/drop, runAsNonRoot, seccomp,
readOnlyRootFilesystem, noNewPrivileges), masked and read-only /proc paths, and cgroup
resources from requests/limits under a pyctl-specific cgroup parent (cgroupfs, v1 hybrid).

A container that cannot be configured as asked raises `ConfigError`: the kubelet's
CreateContainerConfigError, with its message.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from ..volumes import subpath
from . import seccomp
from .expansion import expand

DEFAULT_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

# Docker's (and CRI-O's) default capability set.
DEFAULT_CAPS = [
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW",
    "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE",
]
ALL_CAPS = DEFAULT_CAPS + [
    "CAP_DAC_READ_SEARCH", "CAP_LINUX_IMMUTABLE", "CAP_NET_BROADCAST", "CAP_NET_ADMIN",
    "CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE", "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_LEASE", "CAP_AUDIT_CONTROL", "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ",
]
MASKED_PATHS = [
    "/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
    "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi",
    "/sys/firmware", "/sys/dev/block",
]
READONLY_PATHS = ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]

CPU_PERIOD = 100_000
SWAP_ACCOUNTING = Path("/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes").exists()
MIN_SHARES = 2

_QTY = re.compile(r"^([+-]?[0-9.]+(?:[eE][+-]?[0-9]+)?)(Ki|Mi|Gi|Ti|Pi|Ei|m|k|M|G|T|P|E)?$")
_MULT: dict[str | None, Decimal | int] = {None: 1, "m": Decimal("0.001"), "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12,
         "P": 10**15, "E": 10**18, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40,
         "Pi": 2**50, "Ei": 2**60}


def quantity(value: Any) -> Decimal:
    """A Kubernetes resource quantity ("100m", "64Mi", 2) as a number."""
    m = _QTY.match(str(value).strip())
    if not m:
        raise ValueError(f"invalid quantity {value!r}")
    return Decimal(m.group(1)) * _MULT[m.group(2)]


@dataclass
class PodFiles:
    """Per-pod files and namespaces every container of the pod shares."""

    hostname: str
    netns: str
    ipcns: str
    utsns: str
    hosts: str
    resolv_conf: str
    hostname_file: str
    volumes: dict[str, str] = field(default_factory=dict)
    """Volume name -> host path (emptyDir dirs under the pod dir, hostPath as given)."""
    read_only: set[str] = field(default_factory=set)
    """Volumes mounted read-only whatever the volumeMount says (secret, configMap, ...)."""


Env = list[tuple[str, str]]


def process_args(container: dict[str, Any], image: dict[str, Any], env: Env | None = None) -> list[str]:
    """Kubernetes' rule: command replaces Entrypoint (and drops Cmd); args replace Cmd. The
    container's own command and args expand `$(VAR)` against its env (not the image's)."""
    entrypoint = image.get("Entrypoint") or []
    cmd = image.get("Cmd") or []
    mapping = dict(env if env is not None else literal_env(container))
    command = [expand(str(a), mapping) for a in container.get("command") or []]
    args = [expand(str(a), mapping) for a in container.get("args") or []]
    if command:
        return command + args
    if args:
        return list(entrypoint) + args
    return list(entrypoint) + list(cmd)


def literal_env(container: dict[str, Any]) -> Env:
    """The container's env when nothing needs resolving (valueFrom entries skipped), expanded."""
    seen: dict[str, str] = {}
    for e in container.get("env") or []:
        if "valueFrom" not in e:
            seen[e["name"]] = expand(str(e.get("value", "")), seen)
    return list(seen.items())


def process_env(container: dict[str, Any], image: dict[str, Any], env: Env | None = None) -> list[str]:
    """Image env, overridden by the container's resolved env (`podconfig.container_env`; by
    default its literal values only)."""
    out: dict[str, str] = {}
    for item in image.get("Env") or [DEFAULT_PATH]:
        k, _, v = item.partition("=")
        out[k] = v
    out.update(env if env is not None else literal_env(container))
    out.setdefault("PATH", DEFAULT_PATH.partition("=")[2])
    return [f"{k}={v}" for k, v in out.items()]


class ConfigError(ValueError):
    """The container cannot start as configured (CreateContainerConfigError)."""


def security_context(container: dict[str, Any], pod_spec: dict[str, Any]) -> dict[str, Any]:
    """The effective securityContext: container fields over the pod's."""
    return {**(pod_spec.get("securityContext") or {}), **(container.get("securityContext") or {})}


def user_ids(container: dict[str, Any], pod_spec: dict[str, Any], image: dict[str, Any]) -> tuple[int, int]:
    sc = security_context(container, pod_spec)
    uid, gid = 0, 0
    img_user = str(image.get("User") or "")
    if img_user:
        u, _, g = img_user.partition(":")
        uid = int(u) if u.isdigit() else 0  # named users would need the image's /etc/passwd
        gid = int(g) if g.isdigit() else 0
    uid = int(sc.get("runAsUser", uid))
    gid = int(sc.get("runAsGroup", gid))
    return uid, gid


def check_non_root(pod: dict[str, Any], container: dict[str, Any], image: dict[str, Any]) -> None:
    """runAsNonRoot, verified as the kubelet does: runAsUser, else the image's numeric USER."""
    sc = security_context(container, pod.get("spec") or {})
    if not sc.get("runAsNonRoot"):
        return
    md = pod.get("metadata") or {}
    where = f'(pod: "{md.get("name", "")}_{md.get("namespace", "")}({md.get("uid", "")})", ' \
            f'container: {container.get("name", "")})'
    if sc.get("runAsUser") is not None:
        if int(sc["runAsUser"]) == 0:
            raise ConfigError(f"container's runAsUser breaks non-root policy {where}")
        return
    user = str(image.get("User") or "").partition(":")[0]
    if user and not user.isdigit():
        raise ConfigError(f"container has runAsNonRoot and image has non-numeric user ({user}), "
                          f"cannot verify user is non-root {where}")
    if not user or int(user) == 0:  # no USER: the image runs as root
        raise ConfigError(f"container has runAsNonRoot and image will run as root {where}")


def groups(pod_spec: dict[str, Any]) -> dict[str, Any]:
    """The supplemental groups of every container: the pod's supplementalGroups and its fsGroup
    (the group its volumes are given), as the kubelet passes them to the runtime."""
    sc = pod_spec.get("securityContext") or {}
    gids = [int(g) for g in sc.get("supplementalGroups") or []]
    if sc.get("fsGroup") is not None:
        gids.append(int(sc["fsGroup"]))
    return {"additionalGids": list(dict.fromkeys(gids))} if gids else {}


def _cap_names(values: list[Any] | None) -> list[str]:
    return ["CAP_" + str(c).upper().removeprefix("CAP_") for c in values or []]


def capabilities(sc: dict[str, Any], uid: int) -> dict[str, list[str]]:
    """The process capability sets: Docker's default (all when privileged), then drop, then add
    ("ALL" allowed in both). A non-root process keeps only what was added, through the ambient
    set, because exec as a non-root user clears the rest."""
    privileged = bool(sc.get("privileged"))
    add = _cap_names((sc.get("capabilities") or {}).get("add"))
    drop = set(_cap_names((sc.get("capabilities") or {}).get("drop")))
    base = list(ALL_CAPS if privileged else DEFAULT_CAPS)
    if "CAP_ALL" in drop:
        base = []
    base = [c for c in base if c not in drop]
    added = list(ALL_CAPS) if "CAP_ALL" in add else [c for c in add if c != "CAP_ALL"]
    bounding = list(dict.fromkeys(base + added))
    if uid == 0:
        return {"bounding": bounding, "effective": bounding, "permitted": bounding}
    granted = [c for c in dict.fromkeys(added) if c in bounding]
    return {"bounding": bounding, "effective": granted, "permitted": granted,
            "inheritable": granted, "ambient": granted}


def resources(container: dict[str, Any], pids_limit: int) -> dict[str, Any]:
    """cgroup resources from requests/limits, as the kubelet computes them."""
    res = container.get("resources") or {}
    req, lim = res.get("requests") or {}, res.get("limits") or {}
    out: dict[str, Any] = {"devices": [{"allow": False, "access": "rwm"}]}
    cpu: dict[str, Any] = {}
    cpu_req = req.get("cpu", lim.get("cpu"))
    cpu["shares"] = max(MIN_SHARES, int(quantity(cpu_req) * 1024)) if cpu_req is not None else MIN_SHARES
    if "cpu" in lim:
        cpu["quota"] = max(1000, int(quantity(lim["cpu"]) * CPU_PERIOD))
        cpu["period"] = CPU_PERIOD
    out["cpu"] = cpu
    if "memory" in lim:
        limit = int(quantity(lim["memory"]))
        out["memory"] = {"limit": limit}
        if SWAP_ACCOUNTING:  # no swap beyond the limit (runc refuses swap without memsw)
            out["memory"]["swap"] = limit
    if pids_limit > 0:
        out["pids"] = {"limit": pids_limit}
    return out


def _bind(dest: str, source: str, ro: bool = False) -> dict[str, Any]:
    opts = ["rbind", "rprivate", "ro" if ro else "rw"]
    return {"destination": dest, "type": "bind", "source": source, "options": opts}


def _volume_source(vm: dict[str, Any], root: str, env: Env | None, container: dict[str, Any]) -> str:
    """What a volumeMount binds: the volume, or its subPath / subPathExpr (expanded with the
    container's env, as the kubelet does), made inside the volume when missing."""
    sub = vm.get("subPath") or ""
    if vm.get("subPathExpr"):
        sub = expand(str(vm["subPathExpr"]), dict(env if env is not None else literal_env(container)))
    try:
        return subpath.source(root, sub)
    except (subpath.SubPathError, OSError) as e:
        raise ConfigError(f'failed to prepare subPath for volumeMount "{vm.get("name", "")}" of container '
                          f'"{container.get("name", "")}": {e}') from None


def mounts(container: dict[str, Any], files: PodFiles, privileged: bool,
           env: Env | None = None) -> list[dict[str, Any]]:
    sys_opt = "rw" if privileged else "ro"
    ms: list[dict[str, Any]] = [
        {"destination": "/proc", "type": "proc", "source": "proc"},
        {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
         "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
        {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
         "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
        {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
         "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
        {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
         "options": ["nosuid", "noexec", "nodev"]},
        {"destination": "/sys", "type": "sysfs", "source": "sysfs",
         "options": ["nosuid", "noexec", "nodev", sys_opt]},
        {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
         "options": ["nosuid", "noexec", "nodev", "relatime", sys_opt]},
        _bind("/etc/hosts", files.hosts),
        _bind("/etc/resolv.conf", files.resolv_conf),
        _bind("/etc/hostname", files.hostname_file),
    ]
    for vm in container.get("volumeMounts") or []:
        source = files.volumes.get(vm["name"])
        if source is None:
            raise ValueError(f"volumeMount {vm['name']!r} names no volume of the pod")
        source = _volume_source(vm, source, env, container)  # a file of a configMap volume is bound as it is
        ms.append(_bind(vm["mountPath"], source, ro=bool(vm.get("readOnly")) or vm["name"] in files.read_only))
    return ms


def config(pod: dict[str, Any], container: dict[str, Any], image: dict[str, Any],
           rootfs: str, files: PodFiles, cgroups_path: str, pids_limit: int = 4096,
           seccomp_dir: Path = seccomp.DEFAULT_DIR, env: Env | None = None) -> dict[str, Any]:
    """The config.json of one container; ConfigError when it cannot run as asked. `env`: the
    container's resolved env (None: its literal values only)."""
    spec = pod.get("spec") or {}
    sc = container.get("securityContext") or {}
    privileged = bool(sc.get("privileged"))
    check_non_root(pod, container, image)
    uid, gid = user_ids(container, spec, image)
    caps = capabilities(sc, uid)
    try:
        profile = seccomp.for_container(security_context(container, spec).get("seccompProfile") or {},
                                        caps["bounding"], privileged, seccomp_dir)
    except seccomp.ProfileError as e:
        raise ConfigError(str(e)) from None
    # Kubernetes defaults allowPrivilegeEscalation to true, except when privileged.
    no_new_privs = sc.get("allowPrivilegeEscalation") is False and not privileged
    linux: dict[str, Any] = {
        "namespaces": [
            {"type": "pid"}, {"type": "mount"},
            {"type": "network", "path": files.netns},
            {"type": "ipc", "path": files.ipcns},
            {"type": "uts", "path": files.utsns},
        ],
        "cgroupsPath": cgroups_path,
        "resources": resources(container, pids_limit),
    }
    if profile is not None:
        linux["seccomp"] = profile
    if privileged:
        linux["resources"]["devices"] = [{"allow": True, "access": "rwm"}]
    else:
        linux["maskedPaths"] = list(MASKED_PATHS)
        linux["readonlyPaths"] = list(READONLY_PATHS)
    return {
        "ociVersion": "1.0.2",
        "process": {
            "terminal": False,
            "user": {"uid": uid, "gid": gid, **groups(spec)},
            "args": process_args(container, image, env),
            "env": process_env(container, image, env),
            "cwd": container.get("workingDir") or image.get("WorkingDir") or "/",
            "capabilities": caps,
            "noNewPrivileges": no_new_privs,
        },
        # Only the image's filesystem: /dev, /proc, the pod's files and volumes are mounts
        # of their own and stay writable, as in Kubernetes.
        "root": {"path": rootfs, "readonly": bool(sc.get("readOnlyRootFilesystem"))},
        "hostname": files.hostname,
        "mounts": mounts(container, files, privileged, env),
        "linux": linux,
    }


def write(bundle_dir: Path, cfg: dict[str, Any], private: Path | None = None) -> Path:
    """Write config.json; with `private` (a tmpfs dir) the file lives there, named after the
    bundle, and config.json links to it: env from Secrets never reaches the disk, while
    `runc exec` still finds the container's process defaults."""
    bundle_dir.mkdir(parents=True, exist_ok=True)
    path = bundle_dir / "config.json"
    target = private / f"{bundle_dir.name}.json" if private is not None else path
    tmp = target.with_suffix(".tmp")
    # Compact, so json's C encoder runs: with `indent` it falls back to the pure-Python one,
    # about 5× the CPU for this document (the seccomp profile is long), on every container start.
    tmp.write_text(json.dumps(cfg, separators=(",", ":")))
    tmp.replace(target)
    if private is not None:
        path.unlink(missing_ok=True)
        path.symlink_to(target)
    return path
