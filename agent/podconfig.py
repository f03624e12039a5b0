"""What a pod's containers see of the API: env from Secrets, ConfigMaps, the downward API and
Services (serviceenv.py).

The gateway sends, with each pod assigned to this node, the Secrets and ConfigMaps it
references (`PodAssignment.config_objects`). `PodConfigStore` keeps them IN MEMORY only
(never in the agent's state dir) per pod uid; the runtime asks it for a container's env
(`env`) and for its config volumes (`volumes`, written by configvolumes.py on a tmpfs).
Resolution follows the kubelet's makeEnvironmentVariables: envFrom first, then env in order;
literal values expand `$(VAR)` against what came before; a missing non-optional reference is a
`ConfigError` (CreateContainerConfigError) with the kubelet's wording. Values are never logged.
Projected ServiceAccount tokens come from `tokens` (podtokens.py): `prepare` fetches them before
a pod's volumes are written, and `refresh_tokens` renews them and rewrites the volumes.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import os
import threading
from pathlib import Path
from typing import Any, Iterable, Iterator

from pyctl_proto import node_pb2 as pb

from . import configvolumes
from .lookup import Lookup, Objects, data_of
from .podtokens import PodTokens
from .types import Obj
from .registryauth import POD_AUTHS, Auths, parse_auths
from .runtime.bundle import ConfigError, Env, quantity
from .runtime.expansion import expand
from .serviceenv import service_env

log = logging.getLogger(__name__)



def objects_from(a: pb.PodAssignment) -> Objects:
    """The referenced objects an assignment carries (an unparsable one counts as absent)."""
    out: Objects = {}
    for o in a.config_objects:
        obj = None
        if o.object_json:
            try:
                obj = json.loads(o.object_json)
            except ValueError:  # never echo the text: it may be a secret
                log.warning("the %s %s/%s sent with a pod is not JSON; treated as absent",
                            o.kind, o.namespace, o.name)
        out[(o.kind, o.namespace, o.name)] = obj if isinstance(obj, dict) else None
    return out


# -- downward API ---------------------------------------------------------------------------------

def _format_map(m: dict[str, str]) -> str:
    """The downward API's rendering of labels/annotations: sorted `k="v"` lines."""
    return "\n".join(f"{k}={json.dumps(v)}" for k, v in sorted(m.items()))


def field_value(pod: Obj, path: str, pod_ip: str, host_ip: str, *, whole_maps: bool = False) -> str:
    """A fieldRef's value (metadata.labels/annotations whole only in volumes, as in Kubernetes)."""
    md, spec = pod.get("metadata") or {}, pod.get("spec") or {}
    simple = {
        "metadata.name": md.get("name", ""), "metadata.namespace": md.get("namespace") or "default",
        "metadata.uid": md.get("uid", ""), "spec.nodeName": spec.get("nodeName", ""),
        "spec.serviceAccountName": spec.get("serviceAccountName", ""),
        "status.podIP": pod_ip, "status.podIPs": pod_ip, "status.hostIP": host_ip,
        "status.hostIPs": host_ip,
    }
    if path in simple:
        return simple[path]
    for field in ("labels", "annotations"):
        prefix = f"metadata.{field}"
        if path == prefix and whole_maps:
            return _format_map(md.get(field) or {})
        if path.startswith(prefix + "['") and path.endswith("']"):
            return (md.get(field) or {}).get(path[len(prefix) + 2:-2], "")
    raise ConfigError(f"unsupported fieldRef fieldPath {path!r}")


def node_allocatable() -> dict[str, Any]:
    """What a container without a limit may use: the node's CPUs and memory."""
    mem = 0
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem = int(line.split()[1]) * 1024
    except OSError:
        pass
    return {"cpu": os.cpu_count() or 1, "memory": mem, "ephemeral-storage": 0}


def resource_value(pod: Obj, container: Obj, ref: Obj) -> str:
    """A resourceFieldRef's value: ceil(quantity / divisor); an unset limit is the node's."""
    name = ref.get("containerName") or container.get("name")
    c = next((x for x in (pod.get("spec") or {}).get("containers") or [] if x.get("name") == name), container)
    res = c.get("resources") or {}
    which, _, resource = str(ref.get("resource", "")).partition(".")
    if which not in ("limits", "requests") or resource not in ("cpu", "memory", "ephemeral-storage"):
        raise ConfigError(f"unsupported resourceFieldRef resource {ref.get('resource')!r}")
    limits, requests = res.get("limits") or {}, res.get("requests") or {}
    if which == "limits":
        raw = limits.get(resource, node_allocatable()[resource])
    else:
        raw = requests.get(resource, limits.get(resource, 0))
    try:
        value, divisor = quantity(raw), quantity(ref.get("divisor") or "1")
    except ValueError as exc:
        raise ConfigError(f"resourceFieldRef {ref.get('resource')}: {exc}") from None
    if divisor <= 0:
        raise ConfigError(f"resourceFieldRef {ref.get('resource')}: divisor must be positive")
    return str(math.ceil(value / divisor))


# -- env ------------------------------------------------------------------------------------------

def container_env(pod: Obj, container: Obj, objects: Objects, *, pod_ip: str = "",
                  host_ip: str = "", services: dict[str, str] | None = None) -> Env:
    """The container's env as the kubelet builds it; ConfigError for a missing reference.
    `services`: the service link variables, which the container's own env may use and override."""
    look = Lookup(pod, objects)
    env: dict[str, str] = dict(services or {})
    for ef in container.get("envFrom") or []:
        prefix = ef.get("prefix") or ""
        for kind, field in (("ConfigMap", "configMapRef"), ("Secret", "secretRef")):
            ref = ef.get(field)
            if ref:
                data = look.data(kind, ref.get("name", ""), bool(ref.get("optional")))
                for k, v in (data or {}).items():
                    env[prefix + k] = v.decode(errors="replace")
    for e in container.get("env") or []:
        name, vf = e["name"], e.get("valueFrom")
        if not vf:
            env[name] = expand(str(e.get("value", "")), env)
            continue
        value: bytes | str | None
        if vf.get("secretKeyRef"):
            r = vf["secretKeyRef"]
            value = look.key("Secret", r.get("name", ""), r.get("key", ""), bool(r.get("optional")))
        elif vf.get("configMapKeyRef"):
            r = vf["configMapKeyRef"]
            value = look.key("ConfigMap", r.get("name", ""), r.get("key", ""), bool(r.get("optional")))
        elif vf.get("fieldRef"):
            value = field_value(pod, vf["fieldRef"].get("fieldPath", ""), pod_ip, host_ip)
        elif vf.get("resourceFieldRef"):
            value = resource_value(pod, container, vf["resourceFieldRef"])
        else:
            raise ConfigError(f"env {name}: valueFrom names no source")
        if value is None:  # an optional reference to something absent: no variable
            continue
        env[name] = value.decode(errors="replace") if isinstance(value, bytes) else value
    return list(env.items())


# -- imagePullSecrets ----------------------------------------------------------------------------

def pull_auths(pod: Obj, objects: Objects) -> Auths:
    """Registry credentials from the pod's imagePullSecrets, in order (the first for a host wins):
    kubernetes.io/dockerconfigjson, or the legacy kubernetes.io/dockercfg. A missing or
    malformed secret is skipped, as the kubelet does (the pull then goes without it)."""
    ns = (pod.get("metadata") or {}).get("namespace") or "default"
    out: Auths = {}
    for ref in (pod.get("spec") or {}).get("imagePullSecrets") or []:
        obj = objects.get(("Secret", ns, ref.get("name", "")))
        if obj is None:
            log.warning("pod %s/%s: imagePullSecret %r not found; pulling without it",
                        ns, (pod.get("metadata") or {}).get("name"), ref.get("name"))
            continue
        data = data_of(obj, True)
        try:
            if ".dockerconfigjson" in data:
                auths = parse_auths(json.loads(data[".dockerconfigjson"]))
            elif ".dockercfg" in data:
                auths = parse_auths({"auths": json.loads(data[".dockercfg"])})
            else:
                continue
        except (ValueError, TypeError, AttributeError):  # never echo the content
            log.warning("pod %s/%s: imagePullSecret %r is not a docker config; skipped",
                        ns, (pod.get("metadata") or {}).get("name"), ref.get("name"))
            continue
        for host, creds in auths.items():
            out.setdefault(host, creds)
    return out


def uses_secrets(container: Obj) -> bool:
    """Whether the container's env takes anything from a Secret (its config must stay on tmpfs)."""
    return any((e.get("valueFrom") or {}).get("secretKeyRef") for e in container.get("env") or []) or \
        any(ef.get("secretRef") for ef in container.get("envFrom") or [])


# -- the store ------------------------------------------------------------------------------------

class PodConfigStore:
    """Referenced objects per pod uid, in memory; config volumes kept current on change."""

    def __init__(self, host_ip: str = "") -> None:
        self.host_ip = host_ip
        self._objects: dict[str, Objects] = {}
        self._volumes: dict[str, tuple[Path, str, bool]] = {}  # uid -> (volume root, pod IP, tmpfs)
        self._pods: dict[str, Obj] = {}  # uid -> the pod its volumes were last written for
        self._writing = threading.Lock()  # the runtime writes from a thread, updates from the loop
        self.services: pb.ServiceTable | None = None  # the latest from the control plane
        self.tokens: PodTokens | None = None  # ServiceAccount tokens through the gateway (None: none)

    def objects(self, uid: str) -> Objects:
        return dict(self._objects.get(uid, {}))

    def set(self, pod: Obj, objects: Objects) -> bool:
        """Record what arrived with the pod; True when it differs from what was held. Written
        volumes are brought up to date (a failure is logged and retried on the next change)."""
        uid = pod["metadata"]["uid"]
        changed = self._objects.get(uid) != objects
        self._objects[uid] = objects
        if uid in self._volumes:
            root, ip, tmpfs = self._volumes[uid]
            if not (os.path.ismount(root) if tmpfs else root.is_dir()):
                return changed  # the runtime tore the pod down: never re-create it (on disk)
            try:
                self.volumes(pod, root, ip, tmpfs)
            except (ConfigError, OSError) as exc:
                log.warning("pod %s: config volumes not updated: %s", uid, exc)
        return changed

    def retain(self, uids: Iterable[str]) -> None:
        keep = set(uids)
        for uid in [u for u in self._objects if u not in keep]:
            self.forget(uid)

    def forget(self, uid: str) -> None:
        self._objects.pop(uid, None)
        self._volumes.pop(uid, None)
        self._pods.pop(uid, None)
        if self.tokens is not None:
            self.tokens.forget(uid)

    def env(self, pod: Obj, container: Obj, pod_ip: str) -> Env:
        return container_env(pod, container, self._objects.get(pod["metadata"]["uid"], {}),
                             pod_ip=pod_ip, host_ip=self.host_ip, services=service_env(self.services, pod))

    @contextlib.contextmanager
    def pulling(self, pod: Obj) -> Iterator[None]:
        """Within it (in this task) image pulls use the pod's imagePullSecrets first."""
        token = POD_AUTHS.set(pull_auths(pod, self._objects.get(pod["metadata"]["uid"], {})))
        try:
            yield
        finally:
            POD_AUTHS.reset(token)

    def private_dir(self, container: Obj, root: Path) -> Path | None:
        """A tmpfs for the container's config.json when its env holds Secret values, else None."""
        if not uses_secrets(container):
            return None
        configvolumes.ensure_tmpfs(root)
        return root

    async def prepare(self, pod: Obj) -> None:
        """Before `volumes`: the pod's ServiceAccount tokens (ConfigError when none can be had)."""
        if self.tokens is not None:
            await self.tokens.ensure(pod)

    def volumes(self, pod: Obj, root: Path, pod_ip: str, tmpfs: bool = True) -> dict[str, str]:
        """Write the pod's secret/configMap/downwardAPI/projected volumes under `root` (mounted
        as a tmpfs when `tmpfs`) and keep them current from now on; volume name -> host dir."""
        uid = pod["metadata"]["uid"]
        look = Lookup(pod, self._objects.get(uid, {}))
        token = (lambda src: self.tokens.token(pod, src)) if self.tokens is not None else configvolumes._no_token
        with self._writing:
            out = configvolumes.write_all(pod, root, look, lambda p: field_value(
                pod, p, pod_ip, self.host_ip, whole_maps=True), lambda c, r: resource_value(pod, c, r), tmpfs,
                token)
        if out:
            self._volumes[uid] = (root, pod_ip, tmpfs)
            self._pods[uid] = pod
        return out

    async def refresh_tokens(self, idle: float = 60.0) -> None:
        """Renew tokens as they fall due and rewrite the volumes holding them, until cancelled."""
        assert self.tokens is not None
        tokens = self.tokens
        while True:
            waits = [w for w in (tokens.due_in(uid) for uid in self._volumes) if w is not None]
            tokens.changed.clear()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(tokens.changed.wait(), min(waits + [idle]))
            for uid in list(self._volumes):
                due = tokens.due_in(uid)
                if due is not None and due <= 0:
                    await self._renew(uid)

    async def _renew(self, uid: str) -> None:
        pod = self._pods.get(uid)
        if pod is None or uid not in self._volumes or self.tokens is None:
            return
        try:
            if await self.tokens.ensure(pod):
                root, ip, tmpfs = self._volumes[uid]
                if os.path.ismount(root) if tmpfs else root.is_dir():  # not torn down meanwhile
                    await asyncio.to_thread(self.volumes, pod, root, ip, tmpfs)
        except (ConfigError, OSError) as exc:
            log.warning("pod %s: ServiceAccount token not renewed: %s", uid, exc)
