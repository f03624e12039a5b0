"""The PodDisruptionBudget describer, laid out as kubectl's describePodDisruptionBudgetV1."""

from __future__ import annotations

from typing import Any

from .. import humanize
from . import Context, Writer, describer, events_section, meta_of


@describer("policy", "PodDisruptionBudget")
def pod_disruption_budget(ctx: Context, obj: dict[str, Any]) -> str:
    w = Writer()
    meta, spec, status = meta_of(obj), obj.get("spec") or {}, obj.get("status") or {}
    w.write(0, f"Name:\t{meta.get('name', '')}\n")
    w.write(0, f"Namespace:\t{meta.get('namespace', '')}\n")
    if spec.get("minAvailable") is not None:
        w.write(0, f"Min available:\t{spec['minAvailable']}\n")
    elif spec.get("maxUnavailable") is not None:
        w.write(0, f"Max unavailable:\t{spec['maxUnavailable']}\n")
    w.write(0, f"Selector:\t{humanize.format_selector(spec.get('selector'), '')}\n")
    w.write(0, "Status:\n")
    w.write(2, f"Allowed disruptions:\t{status.get('disruptionsAllowed', 0)}\n")
    w.write(2, f"Current:\t{status.get('currentHealthy', 0)}\n")
    w.write(2, f"Desired:\t{status.get('desiredHealthy', 0)}\n")
    w.write(2, f"Total:\t{status.get('expectedPods', 0)}\n")
    events_section(w, ctx.events(obj))
    return w.text()
