"""What every DaemonSet pod tolerates, as kube's DaemonSet controller adds it
(`AddOrUpdateDaemonPodTolerations`): node problems never evict a daemon pod, and it goes where
ordinary pods may not (cordoned or pressured nodes). Shared by the DaemonSet controller and the
scheduler's plans."""

from __future__ import annotations

from .types import Obj

DAEMON_TOLERATIONS: tuple[Obj, ...] = tuple(
    {"key": f"node.kubernetes.io/{key}", "operator": "Exists", "effect": effect}
    for key, effect in (("not-ready", "NoExecute"), ("unreachable", "NoExecute"), ("disk-pressure", "NoSchedule"),
                        ("memory-pressure", "NoSchedule"), ("pid-pressure", "NoSchedule"),
                        ("unschedulable", "NoSchedule")))
HOST_NETWORK_TOLERATION: Obj = {"key": "node.kubernetes.io/network-unavailable", "operator": "Exists",
                                "effect": "NoSchedule"}


def _toleration_id(t: Obj) -> tuple[str, str, str, str]:
    return t.get("key") or "", t.get("operator") or "", t.get("value") or "", t.get("effect") or ""


def daemon_tolerations(pod_spec: Obj) -> list[Obj]:
    """The pod spec's tolerations with the daemon ones added (a same-key one replaced);
    hostNetwork pods also tolerate an unavailable network."""
    tolerations = [dict(t) for t in pod_spec.get("tolerations") or [] if isinstance(t, dict)]
    wanted = DAEMON_TOLERATIONS + ((HOST_NETWORK_TOLERATION,) if pod_spec.get("hostNetwork") else ())
    for want in wanted:
        same = [i for i, t in enumerate(tolerations) if _toleration_id(t) == _toleration_id(want)]
        if not same:
            tolerations.append(dict(want))
        for i in same:
            tolerations[i] = dict(want)
    return tolerations
