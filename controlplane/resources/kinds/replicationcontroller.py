"""ReplicationControllers (v1): the ReplicaSet's ancestor, still in many manifests.

Kubernetes' SetDefaults_ReplicationController and `ValidateReplicationControllerSpec`: the
selector is a plain label map (equality only) defaulted from the template's labels, as are the
object's own labels; it must not be empty, must match the template and, unlike a ReplicaSet's,
may change. Columns are kubectl's printReplicationController.
"""

from __future__ import annotations

from typing import Any

from ...machinery.types import Obj
from ..fields import as_dict, child, dict_or_none, fill
from ..info import SCALE, STATUS, ResourceInfo
from ..kind import Kind
from ..rules import labels, nonnegative
from ..tables import AGE, CONTAINERS, IMAGES, NAME, Column, Printer, count, format_labels, replicas
from ..validation import Cause, go_string_map, invalid, required
from .podspec import default_template, long_running, template_rules


def _default(obj: Obj) -> None:
    spec = child(obj, "spec")
    if spec is None:
        return
    template = dict_or_none(spec.get("template"))
    template_labels = dict_or_none(as_dict(template.get("metadata")).get("labels")) if template else None
    if template_labels is not None:
        if not spec.get("selector"):
            spec["selector"] = dict(template_labels)
        md = child(obj, "metadata")
        if md is not None and not md.get("labels"):
            md["labels"] = dict(template_labels)
    fill(spec, "replicas", 1)
    if template is not None:
        default_template(spec)


def _rules(obj: Obj) -> list[Cause]:
    spec = as_dict(obj.get("spec"))
    out = nonnegative(spec, "minReadySeconds", "spec")
    sel = spec.get("selector")
    if not as_dict(sel):
        out.append(required("spec.selector"))
    else:
        out += labels(sel, "spec.selector")
    out += nonnegative(spec, "replicas", "spec")
    template = spec.get("template")
    if not isinstance(template, dict):
        return out + [required("spec.template")]
    tmeta = as_dict(template.get("metadata"))
    tlabels = tmeta.get("labels") if isinstance(tmeta.get("labels"), dict) else None
    if as_dict(sel) and any((tlabels or {}).get(k) != v for k, v in as_dict(sel).items()):
        out.append(invalid("spec.template.metadata.labels", go_string_map(tlabels),
                           "`selector` does not match template `labels`"))
    return out + template_rules(template, "spec.template") + \
        long_running(template, "spec.template", "ReplicationController")


PRINTER = Printer((
    NAME,
    Column("Desired", replicas, type="integer",
           description="Replicas is the number of desired replicas. This is a pointer to distinguish between "
                       "explicit zero and unspecified. Defaults to 1. More info: https://kubernetes.io/docs/"
                       "concepts/workloads/controllers/replicationcontroller#what-is-a-replicationcontroller"),
    Column("Current", count("status", "replicas"), type="integer",
           description="Replicas is the most recently observed number of replicas. More info: https://"
                       "kubernetes.io/docs/concepts/workloads/controllers/replicationcontroller#what-is-a-"
                       "replicationcontroller"),
    Column("Ready", count("status", "readyReplicas"), type="integer",
           description="The number of ready replicas for this replication controller."),
    AGE, CONTAINERS, IMAGES,
    Column("Selector", lambda r: format_labels(r.spec.get("selector")), priority=1,
           description="Selector is a label query over pods that should match the Replicas count. If "
                       "Selector is empty, it is defaulted to the labels present on the Pod template. Label "
                       "keys and values that must match in order to be controlled by this replication "
                       "controller, if empty defaulted to labels on Pod template. More info: https://"
                       "kubernetes.io/docs/concepts/overview/working-with-objects/labels/#label-selectors"),
))


class ReplicationControllerKind(Kind):
    def pod_selector(self, obj: Obj) -> Any:
        return {"matchLabels": dict(as_dict(as_dict(obj.get("spec")).get("selector")))}


REPLICATION_CONTROLLER = ReplicationControllerKind(
    ResourceInfo("", "v1", "replicationcontrollers", "ReplicationController", "replicationcontroller", True,
                 ("rc",), ("all",), subresources=(SCALE, STATUS), has_status=True),
    printer=PRINTER, default=_default, rules=(_rules,), initial_status={"replicas": 0})
