"""The Pod Security Standards as checks: pure functions of a pod's metadata and spec.

Each check has the id, reason and detail wording of Kubernetes' pod-security-admission, so
a refusal reads the same as on a real cluster. A check returns None when the pod passes,
else the detail text. `BASELINE` and `RESTRICTED` list the checks of each level; restricted
replaces some baseline checks with stricter ones. Of the metadata, checks read only the
annotations: `violations` remembers its answers by the level, the annotations and the spec.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterator

from ...machinery import jsonio
from ...machinery.memo import Memo
from ...machinery.types import Obj


# Capabilities baseline lets a container add: Docker's default set.
BASELINE_CAPS = {"AUDIT_WRITE", "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "MKNOD",
                 "NET_BIND_SERVICE", "SETFCAP", "SETGID", "SETPCAP", "SETUID", "SYS_CHROOT"}
RESTRICTED_CAPS = {"NET_BIND_SERVICE"}
SAFE_SYSCTLS = {"kernel.shm_rmid_forced", "net.ipv4.ip_local_port_range",
                "net.ipv4.ip_unprivileged_port_start", "net.ipv4.tcp_syncookies",
                "net.ipv4.ping_group_range", "net.ipv4.ip_local_reserved_ports",
                "net.ipv4.tcp_keepalive_time", "net.ipv4.tcp_fin_timeout",
                "net.ipv4.tcp_keepalive_intvl", "net.ipv4.tcp_keepalive_probes",
                "net.ipv4.tcp_rmem", "net.ipv4.tcp_wmem"}
SELINUX_TYPES = {"", "container_t", "container_init_t", "container_kvm_t", "container_engine_t"}
RESTRICTED_VOLUMES = {"configMap", "csi", "downwardAPI", "emptyDir", "ephemeral",
                      "persistentVolumeClaim", "projected", "secret"}


@dataclass(frozen=True)
class Check:
    id: str
    reason: str
    run: Callable[[Obj, Obj], str | None]
    """(pod metadata, pod spec) -> detail of the violation, or None."""


def containers(spec: Obj) -> Iterator[Obj]:
    for field in ("initContainers", "containers", "ephemeralContainers"):
        yield from spec.get(field) or []


def _sc(obj: Obj) -> Obj:
    return obj.get("securityContext") or {}


def quote(names: list[str]) -> str:
    return ", ".join(f'"{n}"' for n in names)


def _who(names: list[str], one: str = "container", many: str = "containers") -> str:
    return f"{one if len(names) == 1 else many} {quote(names)}"


def _bad(spec: Obj, test: Callable[[Obj], bool]) -> list[str]:
    return [c.get("name", "") for c in containers(spec) if test(c)]


# -- baseline -----------------------------------------------------------------------------

def host_namespaces(md: Obj, spec: Obj) -> str | None:
    used = [f"{f}=true" for f in ("hostNetwork", "hostPID", "hostIPC") if spec.get(f)]
    return ", ".join(used) or None


def privileged(md: Obj, spec: Obj) -> str | None:
    bad = _bad(spec, lambda c: _sc(c).get("privileged") is True)
    return f"{_who(bad)} must not set securityContext.privileged=true" if bad else None


def _added(c: Obj) -> list[str]:
    return [str(x) for x in (_sc(c).get("capabilities") or {}).get("add") or []]


def _caps_beyond(spec: Obj, allowed: set[str]) -> str | None:
    bad, caps = [], set()
    for c in containers(spec):
        extra = [x for x in _added(c) if x not in allowed]
        if extra:
            bad.append(c.get("name", ""))
            caps.update(extra)
    if not bad:
        return None
    return f"{_who(bad)} must not include {quote(sorted(caps))} in securityContext.capabilities.add"


def capabilities_baseline(md: Obj, spec: Obj) -> str | None:
    return _caps_beyond(spec, BASELINE_CAPS)


def host_path_volumes(md: Obj, spec: Obj) -> str | None:
    bad = [v.get("name", "") for v in spec.get("volumes") or [] if "hostPath" in v]
    return _who(bad, "volume", "volumes") if bad else None


def host_ports(md: Obj, spec: Obj) -> str | None:
    bad, ports = [], set()
    for c in containers(spec):
        used = [str(p["hostPort"]) for p in c.get("ports") or [] if p.get("hostPort")]
        if used:
            bad.append(c.get("name", ""))
            ports.update(used)
    if not bad:
        return None
    verb = "uses" if len(bad) == 1 else "use"
    noun = "hostPort" if len(ports) == 1 else "hostPorts"
    return f"{_who(bad)} {verb} {noun} {', '.join(sorted(ports))}"


def host_process(md: Obj, spec: Obj) -> str | None:
    def on(o: Obj) -> bool:
        return (_sc(o).get("windowsOptions") or {}).get("hostProcess") is True
    bad = _bad(spec, on)
    if not bad and not on(spec):
        return None
    who = " and ".join(x for x in ("pod" if on(spec) else "", _who(bad) if bad else "") if x)
    return f"{who} must not set securityContext.windowsOptions.hostProcess=true"


def proc_mount(md: Obj, spec: Obj) -> str | None:
    kinds: set[str] = set()
    bad = []
    for c in containers(spec):
        pm = _sc(c).get("procMount")
        if pm not in (None, "", "Default"):
            bad.append(c.get("name", ""))
            kinds.add(str(pm))
    if not bad:
        return None
    return f"{_who(bad)} must not set securityContext.procMount to {quote(sorted(kinds))}"


def _seccomp_type(o: Obj) -> str | None:
    return (_sc(o).get("seccompProfile") or {}).get("type")


def seccomp_baseline(md: Obj, spec: Obj) -> str | None:
    parts = []
    if _seccomp_type(spec) == "Unconfined":
        parts.append('pod must not set securityContext.seccompProfile.type to "Unconfined"')
    bad = _bad(spec, lambda c: _seccomp_type(c) == "Unconfined")
    if bad:
        parts.append(f'{_who(bad)} must not set securityContext.seccompProfile.type to "Unconfined"')
    return "; ".join(parts) or None


def _apparmor_bad(profile: Obj | None) -> bool:
    return bool(profile) and profile.get("type") == "Unconfined"  # type: ignore[union-attr]


def apparmor(md: Obj, spec: Obj) -> str | None:
    bad = []
    if _apparmor_bad(_sc(spec).get("appArmorProfile")):
        bad.append("pod")
    bad += [f'container "{c.get("name", "")}"' for c in containers(spec)
            if _apparmor_bad(_sc(c).get("appArmorProfile"))]
    for key, value in sorted((md.get("annotations") or {}).items()):
        if key.startswith("container.apparmor.security.beta.kubernetes.io/") and \
                value not in ("runtime/default",) and not str(value).startswith("localhost/"):
            bad.append(f'{key}="{value}"')
    return ", ".join(bad) + " must not set an unconfined AppArmor profile" if bad else None


def se_linux(md: Obj, spec: Obj) -> str | None:
    def wrong(o: Obj) -> bool:
        opts = _sc(o).get("seLinuxOptions") or {}
        return bool(opts.get("user") or opts.get("role")) or opts.get("type", "") not in SELINUX_TYPES
    bad = _bad(spec, wrong)
    if not bad and not wrong(spec):
        return None
    who = " and ".join(x for x in ("pod" if wrong(spec) else "", _who(bad) if bad else "") if x)
    return f"{who} set forbidden securityContext.seLinuxOptions"


def sysctls(md: Obj, spec: Obj) -> str | None:
    bad = [s.get("name", "") for s in _sc(spec).get("sysctls") or [] if s.get("name") not in SAFE_SYSCTLS]
    return ", ".join(bad) or None


# -- restricted -----------------------------------------------------------------------------

def allow_privilege_escalation(md: Obj, spec: Obj) -> str | None:
    bad = _bad(spec, lambda c: _sc(c).get("allowPrivilegeEscalation") is not False)
    return f"{_who(bad)} must set securityContext.allowPrivilegeEscalation=false" if bad else None


def capabilities_restricted(md: Obj, spec: Obj) -> str | None:
    parts = []
    no_drop = _bad(spec, lambda c: "ALL" not in ((_sc(c).get("capabilities") or {}).get("drop") or []))
    if no_drop:
        parts.append(f'{_who(no_drop)} must set securityContext.capabilities.drop=["ALL"]')
    added = _caps_beyond(spec, RESTRICTED_CAPS)
    if added:
        parts.append(added)
    return "; ".join(parts) or None


def restricted_volumes(md: Obj, spec: Obj) -> str | None:
    bad, kinds = [], set()
    for v in spec.get("volumes") or []:
        used = [k for k in v if k != "name" and k not in RESTRICTED_VOLUMES]
        if used:
            bad.append(v.get("name", ""))
            kinds.update(used)
    if not bad:
        return None
    verb = "uses" if len(bad) == 1 else "use"
    noun = "restricted volume type" if len(kinds) == 1 else "restricted volume types"
    return f"{_who(bad, 'volume', 'volumes')} {verb} {noun} {quote(sorted(kinds))}"


def run_as_non_root(md: Obj, spec: Obj) -> str | None:
    parts = []
    pod_value = _sc(spec).get("runAsNonRoot")
    if pod_value is False:
        parts.append("pod must not set securityContext.runAsNonRoot=false")
    explicit_false = _bad(spec, lambda c: _sc(c).get("runAsNonRoot") is False)
    if explicit_false:
        parts.append(f"{_who(explicit_false)} must not set securityContext.runAsNonRoot=false")
    if pod_value is not True:
        unset = _bad(spec, lambda c: _sc(c).get("runAsNonRoot") is None)
        if unset:
            parts.append(f"pod or {_who(unset)} must set securityContext.runAsNonRoot=true")
    return "; ".join(parts) or None


def run_as_user(md: Obj, spec: Obj) -> str | None:
    parts = []
    if _sc(spec).get("runAsUser") == 0:
        parts.append("pod must not set runAsUser=0")
    bad = _bad(spec, lambda c: _sc(c).get("runAsUser") == 0)
    if bad:
        parts.append(f"{_who(bad)} must not set runAsUser=0")
    return "; ".join(parts) or None


def seccomp_restricted(md: Obj, spec: Obj) -> str | None:
    parts = []
    pod_type = _seccomp_type(spec)
    if pod_type == "Unconfined":
        parts.append('pod must not set securityContext.seccompProfile.type to "Unconfined"')
    bad = _bad(spec, lambda c: _seccomp_type(c) == "Unconfined")
    if bad:
        parts.append(f'{_who(bad)} must not set securityContext.seccompProfile.type to "Unconfined"')
    if pod_type not in ("RuntimeDefault", "Localhost"):
        unset = _bad(spec, lambda c: _seccomp_type(c) is None)
        if unset:
            parts.append(f'pod or {_who(unset)} must set securityContext.seccompProfile.type to '
                         f'"RuntimeDefault" or "Localhost"')
    return "; ".join(parts) or None


BASELINE = [
    Check("appArmorProfile", "forbidden AppArmor profile", apparmor),
    Check("capabilities_baseline", "non-default capabilities", capabilities_baseline),
    Check("hostNamespaces", "host namespaces", host_namespaces),
    Check("hostPathVolumes", "hostPath volumes", host_path_volumes),
    Check("hostPorts", "hostPort", host_ports),
    Check("hostProcess", "hostProcess", host_process),
    Check("privileged", "privileged", privileged),
    Check("procMount", "procMount", proc_mount),
    Check("seLinuxOptions", "seLinuxOptions", se_linux),
    Check("seccompProfile_baseline", "seccompProfile", seccomp_baseline),
    Check("sysctls", "forbidden sysctls", sysctls),
]
_RESTRICTED_ONLY = [
    Check("allowPrivilegeEscalation", "allowPrivilegeEscalation != false", allow_privilege_escalation),
    Check("capabilities_restricted", "unrestricted capabilities", capabilities_restricted),
    Check("restrictedVolumes", "restricted volume types", restricted_volumes),
    Check("runAsNonRoot", "runAsNonRoot != true", run_as_non_root),
    Check("runAsUser", "runAsUser=0", run_as_user),
    Check("seccompProfile_restricted", "seccompProfile", seccomp_restricted),
]
# Restricted checks that replace a baseline one (a stricter rule on the same fields).
_OVERRIDES = {"capabilities_restricted": "capabilities_baseline",
              "restrictedVolumes": "hostPathVolumes",
              "seccompProfile_restricted": "seccompProfile_baseline"}
RESTRICTED = sorted([c for c in BASELINE if c.id not in _OVERRIDES.values()] + _RESTRICTED_ONLY,
                    key=lambda c: c.id)
LEVELS = {"privileged": [], "baseline": BASELINE, "restricted": RESTRICTED}


# Pods of one template are judged once (machinery/memo.py).
_JUDGED: Memo[tuple[str, bytes, bytes], tuple[tuple[str, str], ...]] = Memo(512)


def violations(level: str, md: Obj, spec: Obj) -> list[tuple[str, str]]:
    """(reason, detail) for each check of `level` the pod fails, in Kubernetes' order (by id)."""
    key = (level, jsonio.dumps(md.get("annotations") or {}), jsonio.dumps(spec))
    return list(_JUDGED.get(key, lambda: tuple(_violations(level, md, spec))))


def _violations(level: str, md: Obj, spec: Obj) -> list[tuple[str, str]]:
    out = []
    for check in LEVELS[level]:
        detail = check.run(md, spec)
        if detail:
            out.append((check.reason, detail))
    return out
