"""Pod Security admission: which level a namespace enforces, and what a write is told.

A namespace chooses its levels with the labels `pod-security.kubernetes.io/enforce` and
`pod-security.kubernetes.io/warn` (privileged | baseline | restricted, with optional
`-version` labels); a namespace without an enforce label gets `baseline` (secure by default;
Kubernetes itself defaults to privileged). Pods that fail the enforce level are refused with
403 Forbidden in Kubernetes' wording; pods that fail the warn level, and workload objects
(Deployment, ReplicaSet, ... whose pod template fails either level), are admitted with a
`would violate PodSecurity` warning, since the pods they make are what gets refused. A
namespace given a stricter enforce level is told which of its running pods would fail it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

from . import checks

PREFIX = "pod-security.kubernetes.io/"
DEFAULT_LEVEL = "baseline"
_VERSION = re.compile(r"^(latest|v1\.(0|[1-9][0-9]*))$")

# Where each kind keeps its pod template (metadata + spec).
TEMPLATE_PATHS: dict[str, tuple[str, ...]] = {
    "PodTemplate": ("template",),
    "ReplicationController": ("spec", "template"),
    "ReplicaSet": ("spec", "template"),
    "Deployment": ("spec", "template"),
    "StatefulSet": ("spec", "template"),
    "DaemonSet": ("spec", "template"),
    "Job": ("spec", "template"),
    "CronJob": ("spec", "jobTemplate", "spec", "template"),
}


@dataclass
class Decision:
    refused: str = ""
    """The 403 message, when the write must be refused."""
    warnings: list[str] = field(default_factory=list)


def policy(labels: dict[str, str], mode: str) -> tuple[str, str] | None:
    """(level, version) a namespace sets for `mode` (enforce | warn); None when unset."""
    level = labels.get(PREFIX + mode)
    if level is None:
        return (DEFAULT_LEVEL, "latest") if mode == "enforce" else None
    version = labels.get(f"{PREFIX}{mode}-version") or "latest"
    return level, version if _VERSION.match(version) else "latest"


def label_errors(labels: dict[str, str]) -> list[dict[str, str]]:
    """Invalid pod-security labels on a namespace, as 422 causes."""
    out = []
    for mode in ("enforce", "audit", "warn"):
        key = PREFIX + mode
        if key in labels and labels[key] not in checks.LEVELS:
            out.append({"reason": "FieldValueNotSupported", "field": f"metadata.labels[{key}]",
                        "message": f'Unsupported value: "{labels[key]}": supported values: '
                                   '"privileged", "baseline", "restricted"'})
        vkey = f"{key}-version"
        if vkey in labels and not _VERSION.match(labels[vkey]):
            out.append({"reason": "FieldValueInvalid", "field": f"metadata.labels[{vkey}]",
                        "message": f'Invalid value: "{labels[vkey]}": must be "latest" or "v1.<minor>"'})
    return out


def _template(obj: dict[str, Any]) -> dict[str, Any] | None:
    node: Any = obj
    for step in TEMPLATE_PATHS.get(obj.get("kind", ""), ()):
        node = node.get(step) if isinstance(node, dict) else None
    return node if isinstance(node, dict) and node is not obj else None


def _evaluate(labels: dict[str, str], mode: str, md: dict[str, Any], spec: dict[str, Any]) -> tuple[str, list[str]]:
    """The policy's name ("baseline:latest", quoted) and `reason (detail)` per failed check."""
    chosen = policy(labels, mode)
    if chosen is None or chosen[0] not in checks.LEVELS:
        return "", []
    level, version = chosen
    return f'"{level}:{version}"', [f"{r} ({d})" for r, d in checks.violations(level, md, spec)]


def existing_pods(namespace: str, old_labels: dict[str, str], labels: dict[str, str],
                  pods: Callable[[], Iterable[dict[str, Any]]]) -> list[str]:
    """Warnings for a namespace whose enforce level changes: its pods (listed only then) that
    fail the new level, one line per set of reasons, as Kubernetes words them."""
    new = policy(labels, "enforce")
    if new is None or new == policy(old_labels, "enforce") or new[0] not in checks.LEVELS:
        return []
    by_reasons: dict[str, list[str]] = {}
    for pod in pods():
        md, spec = pod.get("metadata") or {}, pod.get("spec") or {}
        reasons = list(dict.fromkeys(r for r, _ in checks.violations(new[0], md, spec)))
        if reasons:
            by_reasons.setdefault(", ".join(reasons), []).append(md.get("name", ""))
    if not by_reasons:
        return []
    out = [f'existing pods in namespace "{namespace}" violate the new PodSecurity enforce level '
           f'"{new[0]}:{new[1]}"']
    for text, names in by_reasons.items():
        who = names[0] if len(names) == 1 else f"{names[0]} (and {len(names) - 1} other pods)"
        out.append(f"{who}: {text}")
    return out


def review(labels: dict[str, str], obj: dict[str, Any], old: dict[str, Any] | None = None) -> Decision:
    """What a create (old None) or update of `obj` in a namespace with `labels` is told."""
    decision = Decision()
    modes: tuple[str, ...]
    if obj.get("kind") == "Pod":
        spec = obj.get("spec") or {}
        if old is not None and not _significant(old.get("spec") or {}, spec):
            return decision
        md = obj.get("metadata") or {}
        name, problems = _evaluate(labels, "enforce", md, spec)
        if problems:
            decision.refused = (f'pods "{md.get("name", "")}" is forbidden: violates PodSecurity '
                                f'{name}: {", ".join(problems)}')
            return decision
        modes = ("warn",)
    else:
        template = _template(obj)
        if template is None:
            return decision
        md, spec = template.get("metadata") or {}, template.get("spec") or {}
        modes = ("enforce", "warn")
    seen = set()
    for mode in modes:
        name, problems = _evaluate(labels, mode, md, spec)
        text = f'would violate PodSecurity {name}: {", ".join(problems)}'
        if problems and text not in seen:
            seen.add(text)
            decision.warnings.append(text)
    return decision


def _significant(old: dict[str, Any], new: dict[str, Any]) -> bool:
    """Whether a pod update changes what the policy looks at; Kubernetes skips image-only,
    tolerations and activeDeadlineSeconds changes (the fields a pod may change at all)."""
    def strip(spec: dict[str, Any]) -> dict[str, Any]:
        out = {k: v for k, v in spec.items() if k not in ("tolerations", "activeDeadlineSeconds")}
        for f in ("initContainers", "containers", "ephemeralContainers"):
            if f in out:
                out[f] = [{k: v for k, v in c.items() if k != "image"} for c in out[f] or []]
        return out
    return strip(old) != strip(new)
