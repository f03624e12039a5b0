"""DaemonSets (apps/v1): one pod per eligible node.

Defaults from `pkg/apis/apps/v1/defaults.go` (RollingUpdate, maxUnavailable 1, maxSurge 0,
revisionHistoryLimit 10), rules from `pkg/apis/apps/validation` (ValidateDaemonSetSpec: the
workload selector and pod template, exactly one of maxUnavailable and maxSurge non-zero), the
strategy of `pkg/registry/apps/daemonset` (the template generation, kept in the
`deprecated.daemonset.template.generation` annotation as apps/v1 carries it, goes up by one
with every template change) and kubectl's printDaemonSet columns.
"""

from __future__ import annotations

from ...machinery.types import Obj
from ..fields import as_dict, as_str, child, fill, normalized
from ..info import STATUS, ResourceInfo
from ..kind import Kind
from ..rules import nonnegative
from ..tables import AGE, CONTAINERS, IMAGES, NAME, Column, Printer, count, format_labels, selector
from ..validation import Cause, GoLiteral, invalid, not_supported, required
from .podspec import default_template
from .workloads import int_or_percent, nonzero, selector_and_template, selector_update

TEMPLATE_GENERATION = "deprecated.daemonset.template.generation"
STRATEGIES = ["RollingUpdate", "OnDelete"]


# --- defaults -------------------------------------------------------------------------------

def _default(obj: Obj) -> None:
    spec = child(obj, "spec")
    if spec is None:
        return
    strategy = child(spec, "updateStrategy")
    if strategy is not None:
        fill(strategy, "type", "RollingUpdate")
        if strategy["type"] == "RollingUpdate":
            rolling = child(strategy, "rollingUpdate")
            if rolling is not None:
                fill(rolling, "maxUnavailable", 1)
                fill(rolling, "maxSurge", 0)
    fill(spec, "revisionHistoryLimit", 10)
    default_template(spec)


# --- rules ----------------------------------------------------------------------------------

def _update_strategy(strategy: Obj) -> list[Cause]:
    kind, path = strategy.get("type"), "spec.updateStrategy"
    if kind == "OnDelete":
        return []
    if kind != "RollingUpdate":
        return [not_supported(path, kind, STRATEGIES)]
    rolling = strategy.get("rollingUpdate")
    if not isinstance(rolling, dict):
        return [required(f"{path}.rollingUpdate")]
    path += ".rollingUpdate"
    mu, ms = rolling.get("maxUnavailable"), rolling.get("maxSurge")
    out = int_or_percent(mu, f"{path}.maxUnavailable") + int_or_percent(ms, f"{path}.maxSurge")
    if nonzero(mu) and nonzero(ms):
        out.append(invalid(f"{path}.maxSurge", GoLiteral(str(ms)), "may not be set when maxUnavailable is non-zero"))
    elif not nonzero(mu) and not nonzero(ms):
        out.append(required(f"{path}.maxUnavailable", "cannot be 0 when maxSurge is 0"))
    return out


def _rules(obj: Obj) -> list[Cause]:
    spec = as_dict(obj.get("spec"))
    out = selector_and_template(obj, "daemonset", "DaemonSet")
    out += nonnegative(spec, "minReadySeconds", "spec")
    out += _update_strategy(as_dict(spec.get("updateStrategy")))
    return out + nonnegative(spec, "revisionHistoryLimit", "spec")


# --- the strategy ---------------------------------------------------------------------------

def template_generation(obj: Obj) -> int:
    """The template generation the annotation holds (0 when absent or not a number)."""
    value = as_str(as_dict(as_dict(obj.get("metadata")).get("annotations")).get(TEMPLATE_GENERATION))
    return int(value) if value.isdigit() else 0


def _set_template_generation(obj: Obj, generation: int) -> None:
    md = child(obj, "metadata")
    annotations = child(md, "annotations") if md is not None else None
    if annotations is not None:
        annotations[TEMPLATE_GENERATION] = str(generation)


class DaemonSetKind(Kind):
    def prepare_for_create(self, obj: Obj) -> None:
        super().prepare_for_create(obj)
        _set_template_generation(obj, max(1, template_generation(obj)))

    def prepare_for_update(self, new: Obj, old: Obj) -> None:
        # The server owns the template generation: it changes with the template, and only then.
        generation = template_generation(old)
        template = as_dict(new.get("spec")).get("template")
        if normalized(template) != normalized(as_dict(old.get("spec")).get("template")):
            generation += 1
        _set_template_generation(new, generation)


# --- the table ------------------------------------------------------------------------------

PRINTER = Printer((
    NAME,
    Column("Desired", count("status", "desiredNumberScheduled"), type="integer",
           description="The total number of nodes that should be running the daemon pod (including nodes "
                       "correctly running the daemon pod). More info: "
                       "https://kubernetes.io/docs/concepts/workloads/controllers/daemonset/"),
    Column("Current", count("status", "currentNumberScheduled"), type="integer",
           description="The number of nodes that are running at least 1 daemon pod and are supposed to run "
                       "the daemon pod. More info: "
                       "https://kubernetes.io/docs/concepts/workloads/controllers/daemonset/"),
    Column("Ready", count("status", "numberReady"), type="integer",
           description="numberReady is the number of nodes that should be running the daemon pod and have one "
                       "or more of the daemon pod running with a Ready Condition."),
    Column("Up-to-date", count("status", "updatedNumberScheduled"), type="integer",
           description="The total number of nodes that are running updated daemon pod"),
    Column("Available", count("status", "numberAvailable"), type="integer",
           description="The number of nodes that should be running the daemon pod and have one or more of the "
                       "daemon pod running and available (ready for at least spec.minReadySeconds)"),
    Column("Node Selector", lambda r: format_labels(as_dict(as_dict(r.spec.get("template")).get("spec"))
                                                    .get("nodeSelector")),
           description="NodeSelector is a selector which must be true for the pod to fit on a node. Selector "
                       "which must match a node's labels for the pod to be scheduled on that node. More info: "
                       "https://kubernetes.io/docs/concepts/configuration/assign-pod-node/"),
    AGE, CONTAINERS, IMAGES,
    Column("Selector", lambda r: selector(r.spec.get("selector"), on_error="<error>", if_empty=""),
           priority=1, description="A label query over pods that are managed by the daemon set. Must match in "
                                   "order to be controlled. It must match the pod template's labels. More info: "
                                   "https://kubernetes.io/docs/concepts/overview/working-with-objects/"
                                   "labels/#label-selectors"),
))

# DaemonSetStatus's counters without omitempty: a new DaemonSet shows them as 0.
INITIAL_STATUS = {"currentNumberScheduled": 0, "numberMisscheduled": 0, "desiredNumberScheduled": 0,
                  "numberReady": 0}

DAEMON_SET = DaemonSetKind(
    ResourceInfo("apps", "v1", "daemonsets", "DaemonSet", "daemonset", True, ("ds",), ("all",),
                 subresources=(STATUS,), has_status=True),
    printer=PRINTER, default=_default, rules=(_rules,), update_rules=(selector_update,),
    initial_status=INITIAL_STATUS)
