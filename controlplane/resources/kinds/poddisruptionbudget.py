"""PodDisruptionBudgets (policy/v1): rules and the table kubectl prints.

Kubernetes' `ValidatePodDisruptionBudgetSpec`: minAvailable or maxUnavailable (not both), each a
non-negative integer or a percentage of at most 100%, a valid selector, and the unhealthy-pod
eviction policy. A new budget's status is all zeros (its four counts are not omitempty), so no
eviction passes until the disruption controller has looked at it. Columns are kubectl's
printPodDisruptionBudget.
"""

from __future__ import annotations

import json
from typing import Any

from ...machinery.types import Obj
from ..fields import as_dict, as_int
from ..info import STATUS, ResourceInfo
from ..kind import Kind
from ..rules import enum, selector_errors
from ..tables import AGE, NAME, Column, Printer
from ..validation import NEGATIVE_MSG, Cause, GoLiteral, invalid

PERCENT_MSG = ("a valid percent string must be a numeric string followed by an ending '%' (e.g. '1%',  "
               "or '93%', regex used for validation is '[0-9]+%')")
EVICTION_POLICIES = ["AlwaysAllow", "IfHealthyBudget"]


def int_or_percent_errors(value: Any, path: str) -> list[Cause]:
    """ValidatePositiveIntOrPercent and IsNotMoreThan100Percent."""
    if isinstance(value, str):
        digits = value[:-1] if value.endswith("%") else ""
        if not (digits.isascii() and digits.isdigit()):
            return [invalid(path, GoLiteral(value), PERCENT_MSG)]
        if int(digits) > 100:
            return [invalid(path, GoLiteral(value), "must not be greater than 100%")]
        return []
    n = as_int(value)
    return [invalid(path, n, NEGATIVE_MSG)] if n is not None and n < 0 else []


def _rules(obj: Obj) -> list[Cause]:
    spec = as_dict(obj.get("spec"))
    out: list[Cause] = []
    if spec.get("minAvailable") is not None and spec.get("maxUnavailable") is not None:
        shown = GoLiteral("policy.PodDisruptionBudgetSpec" + json.dumps(spec, sort_keys=True))
        out.append(invalid("spec", shown, "minAvailable and maxUnavailable cannot be both set"))
    for key in ("minAvailable", "maxUnavailable"):
        if spec.get(key) is not None:
            out += int_or_percent_errors(spec[key], f"spec.{key}")
    if isinstance(spec.get("selector"), dict):
        out += selector_errors(spec["selector"], "spec.selector")
    return out + enum("spec.unhealthyPodEvictionPolicy", spec.get("unhealthyPodEvictionPolicy"), EVICTION_POLICIES)


def _int_or_string(value: Any) -> str:
    return "N/A" if value is None else str(value)


PRINTER = Printer((
    NAME,
    Column("Min Available", lambda r: _int_or_string(r.spec.get("minAvailable")),
           description="The minimum number of pods that must be available."),
    Column("Max Unavailable", lambda r: _int_or_string(r.spec.get("maxUnavailable")),
           description="The maximum number of pods that may be unavailable."),
    Column("Allowed Disruptions", lambda r: r.status.get("disruptionsAllowed") or 0, type="integer",
           description="Calculated number of pods that may be disrupted at this time."),
    AGE,
))

POD_DISRUPTION_BUDGET = Kind(
    ResourceInfo("policy", "v1", "poddisruptionbudgets", "PodDisruptionBudget", "poddisruptionbudget", True,
                 ("pdb",), subresources=(STATUS,), has_status=True),
    printer=PRINTER, rules=(_rules,),
    initial_status={"disruptionsAllowed": 0, "currentHealthy": 0, "desiredHealthy": 0, "expectedPods": 0})
