"""Secret, configMap, downwardAPI and projected volumes on the node: contents and layout.

A projected volume's serviceAccountToken sources take the pod's token from `token` (the
agent's podtokens.PodTokens, fetched before the volume is written and renewed by then).

The layout is the kubelet's AtomicWriter, so a container sees a change all at once:

    <volume>/..2026_11_27_16_40_01.123456789/<path>   this version's files
    <volume>/..data -> ..2026_11_27_16_40_01.123456789 (swapped by rename(2))
    <volume>/<top-level path> -> ..data/<top-level path>

All of a pod's config volumes live on one tmpfs per pod (secret values never touch a disk);
the runtime bind-mounts each volume dir read-only.

Modes: files get the volume's `defaultMode` or the item's `mode` (0644 by default), as
Kubernetes gives them, so a container running as any user reads its own volume. Local users
of the node never reach them: the tmpfs root is 0700 (root only), as are the agent's state
dirs above it. The container does not pass through either: its mount starts at the volume dir.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path, PurePosixPath
from typing import Callable

from .lookup import Lookup
from .network.netns import MS_NODEV, MS_NOEXEC, MS_NOSUID, mount
from .runtime.bundle import ConfigError
from .types import Obj

Files = dict[str, tuple[bytes, int]]   # relative path -> (content, mode)
FieldFn = Callable[[str], str]
ResourceFn = Callable[[Obj, Obj], str]
TokenFn = Callable[[Obj], bytes]
"""A serviceAccountToken source -> the pod's token for it (ConfigError when there is none)."""

DEFAULT_MODE = 0o644
DATA = "..data"


def _check_path(path: str) -> str:
    p = PurePosixPath(path)
    if not path or p.is_absolute() or ".." in p.parts or str(p).startswith(".."):
        raise ConfigError(f"invalid volume item path {path!r}: must be relative, without '..'")
    return str(p)


def _keyed(kind: str, src: Obj, look: Lookup, default_mode: int) -> Files:
    """A secret or configMap source: all keys, or the listed items."""
    name = src.get("secretName" if kind == "Secret" and "secretName" in src else "name", "")
    optional = bool(src.get("optional"))
    data = look.data(kind, name, optional)
    if data is None:
        return {}
    items = src.get("items")
    if not items:
        return {_check_path(k): (v, default_mode) for k, v in data.items()}
    out: Files = {}
    for it in items:
        key = it.get("key", "")
        if key not in data:
            if optional:
                continue
            raise ConfigError(f"references non-existent secret key: {key}" if kind == "Secret"
                              else f"configmap references non-existent config key: {key}")
        out[_check_path(it.get("path") or key)] = (data[key], int(it.get("mode", default_mode)))
    return out


def _downward(src: Obj, field: FieldFn, resource: ResourceFn, default_mode: int) -> Files:
    out: Files = {}
    for it in src.get("items") or []:
        if it.get("fieldRef"):
            value = field(it["fieldRef"].get("fieldPath", ""))
        elif it.get("resourceFieldRef"):
            value = resource({}, it["resourceFieldRef"])
        else:
            raise ConfigError(f"downwardAPI item {it.get('path')!r} names no fieldRef or resourceFieldRef")
        out[_check_path(it.get("path", ""))] = (value.encode(), int(it.get("mode", default_mode)))
    return out


def _no_token(source: Obj) -> bytes:
    raise ConfigError("serviceAccountToken volumes need the node gateway's tokens, which this agent has not")


def contents(volume: Obj, look: Lookup, field: FieldFn, resource: ResourceFn,
             token: TokenFn = _no_token) -> Files | None:
    """The files of a config volume; None for any other kind of volume."""
    if "secret" in volume or "configMap" in volume:
        kind = "Secret" if "secret" in volume else "ConfigMap"
        src = volume.get("secret") or volume.get("configMap") or {}
        return _keyed(kind, src, look, int(src.get("defaultMode", DEFAULT_MODE)))
    if "downwardAPI" in volume:
        src = volume["downwardAPI"] or {}
        return _downward(src, field, resource, int(src.get("defaultMode", DEFAULT_MODE)))
    if "projected" in volume:
        proj = volume["projected"] or {}
        mode = int(proj.get("defaultMode", DEFAULT_MODE))
        out: Files = {}
        for s in proj.get("sources") or []:
            if s.get("secret"):
                out.update(_keyed("Secret", s["secret"], look, mode))
            elif s.get("configMap"):
                out.update(_keyed("ConfigMap", s["configMap"], look, mode))
            elif s.get("downwardAPI"):
                out.update(_downward(s["downwardAPI"], field, resource, mode))
            elif s.get("serviceAccountToken"):
                st = s["serviceAccountToken"]
                out[_check_path(st.get("path", ""))] = (token(st), mode)
            # clusterTrustBundle: not served by this cluster yet
        return out
    return None


def _current(target: Path) -> Files | None:
    link = target / DATA
    if not link.is_symlink():
        return None
    base = target / os.readlink(link)
    out: Files = {}
    for p in base.rglob("*"):
        if p.is_file():
            out[str(p.relative_to(base))] = (p.read_bytes(), p.stat().st_mode & 0o7777)
    return out


def write_atomic(target: Path, files: Files) -> bool:
    """Make `target` show `files` (the AtomicWriter layout); False when it already did."""
    target.mkdir(parents=True, exist_ok=True)
    if _current(target) == files:
        return False
    link = target / DATA
    old = os.readlink(link) if link.is_symlink() else None
    stamp = time.strftime("%Y_%m_%d_%H_%M_%S", time.gmtime())
    new = Path(tempfile.mkdtemp(prefix=f"..{stamp}.", dir=target))
    new.chmod(0o755)
    for rel, (content, mode) in files.items():
        path = new / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
        path.chmod(mode)
    tmp = target / f"..data_tmp{new.name[1:]}"
    tmp.symlink_to(new.name)
    tmp.rename(link)  # the atomic swap
    tops = {rel.split("/")[0] for rel in files}
    for top in tops:
        user = target / top
        if not user.is_symlink():
            user.symlink_to(f"{DATA}/{top}")
    for entry in target.iterdir():  # paths no longer present
        if not entry.name.startswith("..") and entry.name not in tops and entry.is_symlink():
            entry.unlink()
    if old:
        shutil.rmtree(target / old, ignore_errors=True)
    return True


def ensure_tmpfs(root: Path) -> None:
    """One tmpfs per pod for all its config volumes (secrets stay in memory), root only."""
    root.mkdir(mode=0o700, parents=True, exist_ok=True)
    if not os.path.ismount(root):
        mount("tmpfs", str(root), "tmpfs", "mode=0700,size=64m", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    os.chmod(root, 0o700)  # also a tmpfs mounted 0755 by an older agent, adopted after an upgrade


def write_all(pod: Obj, root: Path, look: Lookup, field: FieldFn, resource: ResourceFn,
              tmpfs: bool = True, token: TokenFn = _no_token) -> dict[str, str]:
    """Write every config volume of the pod under `root`; volume name -> its dir. All contents
    are computed first, so a missing reference changes nothing."""
    wanted: dict[str, Files] = {}
    for v in (pod.get("spec") or {}).get("volumes") or []:
        files = contents(v, look, field, resource, token)
        if files is not None:
            wanted[v["name"]] = files
    if not wanted:
        return {}
    if tmpfs:
        ensure_tmpfs(root)
    out = {}
    for name, files in wanted.items():
        write_atomic(root / name, files)
        out[name] = str(root / name)
    return out
