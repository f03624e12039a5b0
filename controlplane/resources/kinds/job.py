"""Jobs (batch/v1): defaults, the generated selector, rules, the table kubectl prints.

Kubernetes' `pkg/apis/batch/v1/defaults.go`, `pkg/registry/batch/job/strategy.go` and
`pkg/apis/batch/validation`: a Job's pods are selected by the Job's uid
(`batch.kubernetes.io/controller-uid`), which the API server writes into the selector and the
template at create unless `manualSelector` is true; the template must restart OnFailure or
Never; completion mode, pod failure and success policies are checked here, the rest of a
running Job's spec is immutable. The job template of a CronJob is checked by `job_spec` too.
Columns are kubectl's printJob.
"""

from __future__ import annotations

import re
from typing import Any

from ...machinery.types import Obj
from ..fields import as_dict, as_int, as_list, as_str, child, dicts, fill, normalized
from ..info import STATUS, ResourceInfo
from ..kind import Kind
from ..rules import enum, go_selector, nonnegative, selector_errors, selector_matches
from ..tables import AGE, CONTAINERS, IMAGES, NAME, Column, Printer, Row, human_duration, selector, time_of
from ..validation import (Cause, GoLiteral, duplicate, go_quote, go_string_map, go_value, invalid,
                          not_supported, qualified_name, required)
from .podspec import default_template, template_rules

LEGACY_UID_LABEL = "controller-uid"
UID_LABEL = "batch.kubernetes.io/controller-uid"
LEGACY_NAME_LABEL = "job-name"
NAME_LABEL = "batch.kubernetes.io/job-name"
MAX_PARALLELISM_INDEXED = 100_000
MAX_FAILURE_RULES = 20
MAX_EXIT_CODES = 255
MAX_SUCCESS_RULES = 20
FAILURE_ACTIONS = ["Count", "FailIndex", "FailJob", "Ignore"]


# --- defaults -------------------------------------------------------------------------------

def default_job_spec(spec: Obj) -> None:
    """The pod template's defaults: what a CronJob's job template gets too."""
    default_template(spec)


def _default(obj: Obj) -> None:
    spec = child(obj, "spec")
    if spec is None:
        return
    if spec.get("completions") is None and spec.get("parallelism") is None:
        spec["completions"] = 1
    fill(spec, "parallelism", 1)
    if spec.get("backoffLimit") is None:
        spec["backoffLimit"] = 2**31 - 1 if spec.get("backoffLimitPerIndex") is not None else 6
    template_labels = as_dict(as_dict(spec.get("template")).get("metadata")).get("labels")
    md = child(obj, "metadata")
    if md is not None and isinstance(template_labels, dict) and template_labels and not md.get("labels"):
        md["labels"] = dict(template_labels)
    fill(spec, "completionMode", "NonIndexed")
    fill(spec, "suspend", False)
    policy = as_dict(spec.get("podFailurePolicy"))
    for rule in dicts(policy.get("rules")):
        for pattern in dicts(rule.get("onPodConditions")):
            fill(pattern, "status", "True")
    fill(spec, "podReplacementPolicy", "Failed" if spec.get("podFailurePolicy") is not None else "TerminatingOrFailed")
    default_job_spec(spec)


def _manual(spec: Obj) -> bool:
    return spec.get("manualSelector") is True


def generate_selector(obj: Obj) -> None:
    """The selector (and template labels) a Job gets unless its selector is manual."""
    spec = child(obj, "spec")
    md = as_dict(obj.get("metadata"))
    if spec is None or _manual(spec):
        return
    template = child(spec, "template")
    tmeta = child(template, "metadata") if template is not None else None
    tlabels = child(tmeta, "labels") if tmeta is not None else None
    if tlabels is None:
        return
    name, uid = as_str(md.get("name")), as_str(md.get("uid"))
    for key, value in ((LEGACY_NAME_LABEL, name), (NAME_LABEL, name), (LEGACY_UID_LABEL, uid), (UID_LABEL, uid)):
        tlabels.setdefault(key, value)  # a label the user set conflicts: validation says so
    sel = child(spec, "selector")
    match = child(sel, "matchLabels") if sel is not None else None
    if match is not None:
        match.setdefault(UID_LABEL, uid)


# --- rules ----------------------------------------------------------------------------------

def _go_list(values: list[str]) -> str:
    return "[" + " ".join(go_quote(v) for v in values) + "]"


def _template(spec: Obj, path: str) -> list[Cause]:
    template = spec.get("template")
    if not isinstance(template, dict):
        return [required(f"{path}.template")]
    tspec = as_dict(template.get("spec"))
    out = template_rules(template, f"{path}.template")
    restart, p = tspec.get("restartPolicy"), f"{path}.template.spec.restartPolicy"
    if restart in ("Always", "", None):
        out.append(required(p, 'valid values: "OnFailure", "Never"'))
    elif restart not in ("OnFailure", "Never"):
        out.append(not_supported(p, restart, ["OnFailure", "Never"]))
    elif spec.get("podFailurePolicy") is not None and restart != "Never":
        out.append(invalid(p, restart, 'only "Never" is supported when podFailurePolicy is specified'))
    return out


def _container_names(spec: Obj) -> set[str]:
    tspec = as_dict(as_dict(spec.get("template")).get("spec"))
    return {as_str(c.get("name")) for c in dicts(tspec.get("containers")) + dicts(tspec.get("initContainers"))}


def _exit_codes(req: Obj, path: str, names: set[str]) -> list[Cause]:
    out: list[Cause] = []
    op = req.get("operator")
    if not as_str(op):
        out.append(required(f"{path}.operator", f"valid values: {_go_list(['In', 'NotIn'])}"))
    else:
        out += enum(f"{path}.operator", op, ["In", "NotIn"])
    container = req.get("containerName")
    if isinstance(container, str) and container not in names:
        out.append(invalid(f"{path}.containerName", container,
                           "must be one of the container or initContainer names in the pod template"))
    values = [v for v in as_list(req.get("values")) if as_int(v) is not None]
    vp = f"{path}.values"
    if not values:
        out.append(invalid(vp, GoLiteral("[]int32(nil)" if req.get("values") is None else "[]int32{}"),
                           "at least one value is required"))
    elif len(values) > MAX_EXIT_CODES:
        out.append({"reason": "FieldValueTooMany", "field": vp,
                    "message": f"Too many: {len(values)}: must have at most {MAX_EXIT_CODES} items"})
    else:
        seen: set[int] = set()
        for j, v in enumerate(values):
            if op == "In" and v == 0:
                out.append(invalid(f"{vp}[{j}]", v, "must not be 0 for the In operator"))
            if v in seen:
                out.append(duplicate(f"{vp}[{j}]", v))
            seen.add(v)
        if values != sorted(values):
            out.append(invalid(vp, GoLiteral("[]int32{" + ", ".join(map(str, values)) + "}"), "must be ordered"))
    return out


def _failure_policy(spec: Obj, path: str) -> list[Cause]:
    rules = as_list(as_dict(spec.get("podFailurePolicy")).get("rules"))
    out: list[Cause] = []
    if len(rules) > MAX_FAILURE_RULES:
        out.append({"reason": "FieldValueTooMany", "field": f"{path}.rules",
                    "message": f"Too many: {len(rules)}: must have at most {MAX_FAILURE_RULES} items"})
    names = _container_names(spec)
    for i, rule in enumerate(rules):
        rule, p = as_dict(rule), f"{path}.rules[{i}]"
        action = rule.get("action")
        if not as_str(action):
            out.append(required(f"{p}.action", f"valid values: {_go_list(FAILURE_ACTIONS)}"))
        elif action == "FailIndex":
            if spec.get("backoffLimitPerIndex") is None:
                out.append(invalid(f"{p}.action", action, "requires the backoffLimitPerIndex to be set"))
        else:
            out += enum(f"{p}.action", action, FAILURE_ACTIONS)
        on_codes, on_conditions = rule.get("onExitCodes"), as_list(rule.get("onPodConditions"))
        if isinstance(on_codes, dict):
            out += _exit_codes(on_codes, f"{p}.onExitCodes", names)
        for j, pattern in enumerate(on_conditions):
            pattern, pp = as_dict(pattern), f"{p}.onPodConditions[{j}]"
            out += [invalid(f"{pp}.type", as_str(pattern.get("type")), m)
                    for m in qualified_name(as_str(pattern.get("type")))]
            status = pattern.get("status")
            if not as_str(status):
                out.append(required(f"{pp}.status", f"valid values: {_go_list(['False', 'True', 'Unknown'])}"))
            else:
                out += enum(f"{pp}.status", status, ["False", "True", "Unknown"])
        if on_codes is not None and on_conditions:
            out.append({"reason": "FieldValueInvalid", "field": p,
                        "message": "Invalid value: specifying both OnExitCodes and OnPodConditions is not supported"})
        if on_codes is None and not on_conditions:
            out.append({"reason": "FieldValueInvalid", "field": p,
                        "message": "Invalid value: specifying one of OnExitCodes and OnPodConditions is required"})
    return out


_INDEX_PART = re.compile(r"(\d+)(?:-(\d+))?")


def parse_indexes(text: str, completions: int) -> list[tuple[int, int]]:
    """`1,3-5,7` as inclusive intervals; ValueError with Kubernetes' wording."""
    out: list[tuple[int, int]] = []
    last = -1
    for part in text.split(",") if text else []:
        m = _INDEX_PART.fullmatch(part)
        if not m:
            raise ValueError(f'cannot parse integer index: "{part}"')
        first, end = int(m.group(1)), int(m.group(2) if m.group(2) is not None else m.group(1))
        if first > end:
            raise ValueError(f'the fragment "{part}" violates the requirement that first index must '
                             "be less than last")
        if end >= completions:
            raise ValueError(f"too large index: {end}")
        if first <= last:
            raise ValueError(f"non-increasing order, previous: {last}, current: {first}")
        out.append((first, end))
        last = end
    return out


def _success_policy(spec: Obj, path: str) -> list[Cause]:
    policy = spec.get("successPolicy")
    if spec.get("completionMode") != "Indexed":
        return [{"reason": "FieldValueInvalid", "field": path,
                 "message": "Invalid value: requires indexed completion mode"}]
    rules = as_list(as_dict(policy).get("rules"))
    out: list[Cause] = []
    if not rules:
        out.append(required(f"{path}.rules", "at least one rules must be specified when the successPolicy is specified"))
    if len(rules) > MAX_SUCCESS_RULES:
        out.append({"reason": "FieldValueTooMany", "field": f"{path}.rules",
                    "message": f"Too many: {len(rules)}: must have at most {MAX_SUCCESS_RULES} items"})
    completions = as_int(spec.get("completions")) or 0
    for i, rule in enumerate(rules):
        rule, p = as_dict(rule), f"{path}.rules[{i}]"
        count, indexes = as_int(rule.get("succeededCount")), rule.get("succeededIndexes")
        if count is None and indexes is None:
            out.append(required(p, "at least one of succeededCount or succeededIndexes must be specified"))
        total = 0
        if isinstance(indexes, str):
            try:
                total = sum(b - a + 1 for a, b in parse_indexes(indexes, completions))
            except ValueError as exc:
                out.append(invalid(f"{p}.succeededIndexes", indexes, f"error parsing succeededIndexes: {exc}"))
        if count is not None:
            out += nonnegative(rule, "succeededCount", p)
            if count > completions:
                out.append(invalid(f"{p}.succeededCount", count, f"must be less than or equal to {completions} "
                                   "(the number of specified completions)"))
            if isinstance(indexes, str) and count > total:
                out.append(invalid(f"{p}.succeededCount", count, f"must be less than or equal to {total} "
                                   "(the number of indexes in the specified succeededIndexes field)"))
    return out


def job_spec(spec: Obj, path: str) -> list[Cause]:
    """validateJobSpec: what a Job's spec and a CronJob's job template share."""
    out: list[Cause] = []
    for key in ("parallelism", "completions", "activeDeadlineSeconds", "backoffLimit",
                "ttlSecondsAfterFinished", "backoffLimitPerIndex", "maxFailedIndexes"):
        out += nonnegative(spec, key, path)
    mode = spec.get("completionMode")
    per_index, max_failed = as_int(spec.get("backoffLimitPerIndex")), as_int(spec.get("maxFailedIndexes"))
    if per_index is not None and mode != "Indexed":
        out.append(invalid(f"{path}.backoffLimitPerIndex", per_index, "requires indexed completion mode"))
    if max_failed is not None and per_index is None:
        out.append(required(f"{path}.backoffLimitPerIndex", "when maxFailedIndexes is specified"))
    if as_str(mode) and mode not in ("NonIndexed", "Indexed"):
        out.append(not_supported(f"{path}.completionMode", mode, ["NonIndexed", "Indexed"]))
    if mode == "Indexed":
        completions, parallelism = as_int(spec.get("completions")), as_int(spec.get("parallelism"))
        if completions is None:
            out.append(required(f"{path}.completions", "when completion mode is Indexed"))
        if parallelism is not None and parallelism > MAX_PARALLELISM_INDEXED:
            out.append(invalid(f"{path}.parallelism", parallelism, f"must be less than or equal to "
                               f"{MAX_PARALLELISM_INDEXED} when completion mode is Indexed"))
        if completions is not None and max_failed is not None and max_failed > completions:
            out.append(invalid(f"{path}.maxFailedIndexes", max_failed, "must be less than or equal to completions"))
    if isinstance(spec.get("podFailurePolicy"), dict):
        out += _failure_policy(spec, f"{path}.podFailurePolicy")
    if isinstance(spec.get("successPolicy"), dict):
        out += _success_policy(spec, f"{path}.successPolicy")
    replacement = spec.get("podReplacementPolicy")
    if spec.get("podFailurePolicy") is not None and replacement not in (None, "Failed"):
        out.append(not_supported(f"{path}.podReplacementPolicy", replacement, ["Failed"]))
    else:
        out += enum(f"{path}.podReplacementPolicy", replacement, ["Failed", "TerminatingOrFailed"])
    return out + _template(spec, path)


def _selector_rules(obj: Obj) -> list[Cause]:
    spec = as_dict(obj.get("spec"))
    sel = spec.get("selector")
    out: list[Cause] = []
    if sel is None:
        return [required("spec.selector")]
    if not isinstance(sel, dict):
        return out
    sel_errors = selector_errors(sel, "spec.selector")
    out += sel_errors
    tlabels = as_dict(as_dict(spec.get("template")).get("metadata")).get("labels")
    if not sel_errors and not selector_matches(sel, as_dict(tlabels)):
        out.append(invalid("spec.template.metadata.labels",
                           go_string_map(tlabels if isinstance(tlabels, dict) else None),
                           "`selector` does not match template `labels`"))
    if _manual(spec):
        return out
    # A generated selector: exactly the uid, and the generated labels on the template.
    md = as_dict(obj.get("metadata"))
    uid, name = as_str(md.get("uid")), as_str(md.get("name"))
    if not uid:
        out.append(required("metadata.uid"))
    template_meta = as_dict(tlabels)
    for key, want in ((LEGACY_UID_LABEL, uid), (LEGACY_NAME_LABEL, name), (UID_LABEL, uid), (NAME_LABEL, name)):
        have = template_meta.get(key)
        if have is None:
            out.append(required(f"spec.template.metadata.labels[{key}]", f"must be '{want}'"))
        elif have != want:
            out.append(invalid(f"spec.template.metadata.labels[{key}]", have, f"must be '{want}'"))
    if normalized(sel) != {"matchLabels": {UID_LABEL: uid}}:
        out.append(invalid("spec.selector", go_selector(sel), "`selector` not auto-generated"))
    return out


def _rules(obj: Obj) -> list[Cause]:
    spec = as_dict(obj.get("spec"))
    return job_spec(spec, "spec") + _selector_rules(obj)


def _immutable(path: str, value: Any) -> Cause:
    return invalid(path, GoLiteral(go_value(value)), "field is immutable")


_SCHEDULING_DIRECTIVES = ("nodeSelector", "affinity", "tolerations", "schedulingGates")


def _template_update_allowed(new_t: Obj, old_t: Obj, old: Obj) -> bool:
    """A suspended Job that never started may change where its pods go (and their labels and
    annotations): JobMutableNodeSchedulingDirectives."""
    suspended = as_dict(old.get("spec")).get("suspend") is True
    if not suspended or as_dict(old.get("status")).get("startTime"):
        return False
    n, o = dict(new_t), dict(old_t)
    n_spec, o_spec = dict(as_dict(n.get("spec"))), dict(as_dict(o.get("spec")))
    for key in _SCHEDULING_DIRECTIVES:
        n_spec.pop(key, None)
        o_spec.pop(key, None)
    n_meta, o_meta = dict(as_dict(n.get("metadata"))), dict(as_dict(o.get("metadata")))
    for key in ("labels", "annotations"):
        n_meta.pop(key, None)
        o_meta.pop(key, None)
    return normalized({**n, "spec": n_spec, "metadata": n_meta}) == normalized({**o, "spec": o_spec, "metadata": o_meta})


def _update_rules(new: Obj, old: Obj) -> list[Cause]:
    ns, os_ = as_dict(new.get("spec")), as_dict(old.get("spec"))
    out: list[Cause] = []
    if normalized(ns.get("selector")) != normalized(os_.get("selector")):
        out.append(invalid("spec.selector", go_selector(as_dict(ns.get("selector"))), "field is immutable"))
    elastic = (ns.get("completionMode") == "Indexed" and ns.get("completions") == ns.get("parallelism"))
    if ns.get("completions") != os_.get("completions") and not elastic:
        out.append(_immutable("spec.completions", ns.get("completions")))
    for key in ("completionMode", "podFailurePolicy", "backoffLimitPerIndex", "managedBy", "successPolicy"):
        if normalized(ns.get(key)) != normalized(os_.get(key)):
            out.append(_immutable(f"spec.{key}", ns.get(key)))
    nt, ot = as_dict(ns.get("template")), as_dict(os_.get("template"))
    if normalized(nt) != normalized(ot) and not _template_update_allowed(nt, ot, old):
        out.append({"reason": "FieldValueInvalid", "field": "spec.template",
                    "message": "Invalid value: core.PodTemplateSpec{...}: field is immutable"})
    return out


# --- the table (printJob) -------------------------------------------------------------------

def condition_true(status: Obj, kind: str) -> bool:
    return any(c.get("type") == kind and c.get("status") == "True" for c in dicts(status.get("conditions")))


def job_status_word(obj: Obj) -> str:
    """The STATUS cell: the first of Complete, Failed, Terminating, Suspended, FailureTarget,
    SuccessCriteriaMet that holds, else Running."""
    status = as_dict(obj.get("status"))
    for kind in ("Complete", "Failed"):
        if condition_true(status, kind):
            return kind
    if as_dict(obj.get("metadata")).get("deletionTimestamp"):
        return "Terminating"
    for kind in ("Suspended", "FailureTarget", "SuccessCriteriaMet"):
        if condition_true(status, kind):
            return kind
    return "Running"


def completions_cell(r: Row) -> str:
    succeeded = r.status.get("succeeded") or 0
    if r.spec.get("completions") is not None:
        return f"{succeeded}/{r.spec['completions']}"
    parallelism = r.spec.get("parallelism") or 0
    return f"{succeeded}/1 of {parallelism}" if parallelism > 1 else f"{succeeded}/1"


def _duration(r: Row) -> str:
    start, end = time_of(r.status.get("startTime")), time_of(r.status.get("completionTime"))
    if start is None:
        return ""
    return human_duration(((end or r.now) - start).total_seconds())


PRINTER = Printer((
    NAME,
    Column("Status", lambda r: job_status_word(r.obj), description="Status of the job."),
    Column("Completions", completions_cell,
           description="The number of pods which reached phase Succeeded. The value increases monotonically "
                       "for a given spec. However, it may decrease in reaction to scale down of elastic "
                       "indexed jobs."),
    Column("Duration", _duration, description="Time required to complete the job."),
    AGE, CONTAINERS, IMAGES,
    Column("Selector", lambda r: selector(r.spec.get("selector"), on_error="<error>", if_empty="<none>"),
           priority=1, description="A label query over pods that should match the pod count. Normally, the "
                                   "system sets this field for you. More info: https://kubernetes.io/docs/"
                                   "concepts/overview/working-with-objects/labels/#label-selectors"),
))


# --- the kind -------------------------------------------------------------------------------

class JobKind(Kind):
    def prepare_for_create(self, obj: Obj) -> None:
        super().prepare_for_create(obj)
        # Before defaulting, as kube decodes (defaults) before the strategy runs: the Job's own
        # labels come from the template as the user wrote it plus the generated ones.
        generate_selector(obj)


JOB = JobKind(
    ResourceInfo("batch", "v1", "jobs", "Job", "job", True, (), ("all",),
                 subresources=(STATUS,), has_status=True),
    printer=PRINTER, default=_default, rules=(_rules,), update_rules=(_update_rules,))
