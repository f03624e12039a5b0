"""Describers for Pod, Deployment, ReplicaSet, DaemonSet and StatefulSet, as kubectl lays them out."""

from __future__ import annotations

import copy
from typing import Any

from controlplane.machinery import placement as record

from .. import humanize
from ..errors import PyctlError
from . import (Context, Writer, annotations_multiline, controller_of, describer, events_section,
               labels_multiline, meta_of, placement, tolerations_multiline)
from .containers import containers, pod_template, qos_class, volumes


@describer("", "Pod")
def pod(ctx: Context, obj: dict[str, Any]) -> str:
    w = Writer()
    meta, spec, status = meta_of(obj), obj.get("spec") or {}, obj.get("status") or {}
    w.write(0, f"Name:\t{meta.get('name', '')}\n")
    w.write(0, f"Namespace:\t{meta.get('namespace', '')}\n")
    if spec.get("priority") is not None:
        w.write(0, f"Priority:\t{spec['priority']}\n")
    if spec.get("priorityClassName"):
        w.write(0, f"Priority Class Name:\t{spec['priorityClassName']}\n")
    if spec.get("runtimeClassName"):
        w.write(0, f"Runtime Class Name:\t{spec['runtimeClassName']}\n")
    if spec.get("serviceAccountName"):
        w.write(0, f"Service Account:\t{spec['serviceAccountName']}\n")
    node = spec.get("nodeName")
    w.write(0, f"Node:\t{node}/{status.get('hostIP', '')}\n" if node else "Node:\t<none>\n")
    if status.get("startTime"):
        w.write(0, f"Start Time:\t{humanize.rfc1123z(status['startTime'])}\n")
    labels_multiline(w, "Labels", meta.get("labels"))
    # The scheduler's record has a section of its own (Placement, below).
    annotations_multiline(w, "Annotations", {k: v for k, v in (meta.get("annotations") or {}).items()
                                             if k != record.ANNOTATION})
    phase = status.get("phase", "")
    if meta.get("deletionTimestamp") and phase not in ("Failed", "Succeeded"):
        w.write(0, f"Status:\tTerminating (lasts {humanize.since(meta['deletionTimestamp'])})\n")
        w.write(0, f"Termination Grace Period:\t{meta.get('deletionGracePeriodSeconds', 0)}s\n")
    else:
        w.write(0, f"Status:\t{phase}\n")
    for field in ("reason", "message"):
        if status.get(field):
            w.write(0, f"{field.capitalize()}:\t{status[field]}\n")
    w.write(0, f"IP:\t{status.get('podIP', '')}\n")
    ips = status.get("podIPs") or []
    if not ips:
        w.write(0, "IPs:\t<none>\n")
    else:
        w.write(0, "IPs:\n")
        for ip in ips:
            w.write(1, f"IP:\t{ip.get('ip', '')}\n")
    if controller_of(obj):
        w.write(0, f"Controlled By:\t{controller_of(obj)}\n")
    if status.get("nominatedNodeName"):
        w.write(0, f"NominatedNodeName:\t{status['nominatedNodeName']}\n")
    if spec.get("initContainers"):
        containers(w, "Init Containers", spec["initContainers"], status.get("initContainerStatuses"),
                   pod=obj)
    containers(w, "Containers", spec.get("containers") or [], status.get("containerStatuses"), pod=obj)
    conditions = status.get("conditions") or []
    if spec.get("readinessGates"):
        w.write(0, "Readiness Gates:\n  Type\tStatus\n")
        for gate in spec["readinessGates"]:
            found = next((c.get("status") for c in conditions
                          if c.get("type") == gate.get("conditionType")), "<none>")
            w.write(1, f"{gate.get('conditionType', '')} \t{found} \n")
    if conditions:
        w.write(0, "Conditions:\n  Type\tStatus\n")
        for c in conditions:
            w.write(1, f"{c.get('type', '')} \t{c.get('status', '')} \n")
    volumes(w, spec.get("volumes"))
    w.write(0, f"QoS Class:\t{status.get('qosClass') or qos_class(spec)}\n")
    labels_multiline(w, "Node-Selectors", spec.get("nodeSelector"))
    tolerations_multiline(w, "Tolerations", spec.get("tolerations"))
    placement.section(w, obj)
    events_section(w, ctx.events(obj, with_kind=False))
    return w.text()


def _pods_status(ctx: Context, obj: dict[str, Any]) -> str:
    """`N Running / N Waiting / N Succeeded / N Failed` over the pods the controller owns."""
    meta = meta_of(obj)
    selector = humanize.format_selector((obj.get("spec") or {}).get("selector"), "")
    try:
        pods = ctx.get(f"/api/v1/namespaces/{meta.get('namespace', '')}/pods",
                       {"labelSelector": selector} if selector else None).get("items") or []
    except PyctlError as exc:
        return f"error in fetching pods: {exc}"
    counts = {"Running": 0, "Pending": 0, "Succeeded": 0, "Failed": 0}
    for p in pods:
        owned = any(r.get("controller") and r.get("uid") == meta.get("uid")
                    for r in (p.get("metadata") or {}).get("ownerReferences") or [])
        phase = (p.get("status") or {}).get("phase")
        if owned and phase in counts:
            counts[phase] += 1
    return (f"{counts['Running']} Running / {counts['Pending']} Waiting / "
            f"{counts['Succeeded']} Succeeded / {counts['Failed']} Failed")


def _conditions(w: Writer, conditions: list[dict[str, Any]]) -> None:
    if conditions:
        w.write(0, "Conditions:\n  Type\tStatus\tReason\n")
        w.write(1, "----\t------\t------\n")
        for c in conditions:
            w.write(1, f"{c.get('type', '')} \t{c.get('status', '')}\t{c.get('reason', '')}\n")


@describer("apps", "ReplicaSet")
def replicaset(ctx: Context, obj: dict[str, Any]) -> str:
    w = Writer()
    meta, spec, status = meta_of(obj), obj.get("spec") or {}, obj.get("status") or {}
    w.write(0, f"Name:\t{meta.get('name', '')}\n")
    w.write(0, f"Namespace:\t{meta.get('namespace', '')}\n")
    w.write(0, f"Selector:\t{humanize.format_selector(spec.get('selector'))}\n")
    labels_multiline(w, "Labels", meta.get("labels"))
    annotations_multiline(w, "Annotations", meta.get("annotations"))
    if controller_of(obj):
        w.write(0, f"Controlled By:\t{controller_of(obj)}\n")
    w.write(0, f"Replicas:\t{status.get('replicas', 0)} current / {spec.get('replicas', 1)} desired\n")
    w.write(0, f"Pods Status:\t{_pods_status(ctx, obj)}\n")
    pod_template(w, spec.get("template"))
    _conditions(w, status.get("conditions") or [])
    events_section(w, ctx.events(obj))
    return w.text()


def _without_hash(template: dict[str, Any] | None) -> dict[str, Any]:
    t = copy.deepcopy(template or {})
    (t.get("metadata") or {}).get("labels", {}).pop("pod-template-hash", None)
    return t


def _replica_sets(ctx: Context, obj: dict[str, Any]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The deployment's old and new ReplicaSets (new: same template, hash label aside)."""
    meta, spec = meta_of(obj), obj.get("spec") or {}
    selector = humanize.format_selector(spec.get("selector"), "")
    try:
        items = ctx.get(f"/apis/apps/v1/namespaces/{meta.get('namespace', '')}/replicasets",
                        {"labelSelector": selector} if selector else None).get("items") or []
    except PyctlError:
        return [], []
    owned = [rs for rs in items if any(r.get("controller") and r.get("uid") == meta.get("uid")
                                       for r in (rs.get("metadata") or {}).get("ownerReferences") or [])]
    owned.sort(key=lambda rs: (rs.get("metadata") or {}).get("creationTimestamp", ""))
    wanted = _without_hash(spec.get("template"))
    new = [rs for rs in owned if _without_hash((rs.get("spec") or {}).get("template")) == wanted][:1]
    old = [rs for rs in owned if rs not in new]
    return old, new


def _rs_list(items: list[dict[str, Any]]) -> str:
    text = ", ".join(f"{(rs.get('metadata') or {}).get('name', '')} "
                     f"({(rs.get('status') or {}).get('replicas', 0)}/"
                     f"{(rs.get('spec') or {}).get('replicas', 1)} replicas created)" for rs in items)
    return text or "<none>"


@describer("apps", "Deployment")
def deployment(ctx: Context, obj: dict[str, Any]) -> str:
    w = Writer()
    meta, spec, status = meta_of(obj), obj.get("spec") or {}, obj.get("status") or {}
    w.write(0, f"Name:\t{meta.get('name', '')}\n")
    w.write(0, f"Namespace:\t{meta.get('namespace', '')}\n")
    w.write(0, f"CreationTimestamp:\t{humanize.rfc1123z(meta.get('creationTimestamp'))}\n")
    labels_multiline(w, "Labels", meta.get("labels"))
    annotations_multiline(w, "Annotations", meta.get("annotations"))
    w.write(0, f"Selector:\t{humanize.format_selector(spec.get('selector'), '')}\n")
    w.write(0, f"Replicas:\t{spec.get('replicas', 1)} desired | {status.get('updatedReplicas', 0)} "
               f"updated | {status.get('replicas', 0)} total | {status.get('availableReplicas', 0)} "
               f"available | {status.get('unavailableReplicas', 0)} unavailable\n")
    strategy = spec.get("strategy") or {}
    w.write(0, f"StrategyType:\t{strategy.get('type', '')}\n")
    w.write(0, f"MinReadySeconds:\t{spec.get('minReadySeconds', 0)}\n")
    rolling = strategy.get("rollingUpdate")
    if rolling is not None:
        w.write(0, f"RollingUpdateStrategy:\t{rolling.get('maxUnavailable', '25%')} max unavailable, "
                   f"{rolling.get('maxSurge', '25%')} max surge\n")
    pod_template(w, spec.get("template"))
    _conditions(w, status.get("conditions") or [])
    old, new = _replica_sets(ctx, obj)
    if old or new:
        w.write(0, f"OldReplicaSets:\t{_rs_list(old)}\n")
        w.write(0, f"NewReplicaSet:\t{_rs_list(new)}\n")
    events_section(w, ctx.events(obj))
    return w.text()


@describer("apps", "DaemonSet")
def daemonset(ctx: Context, obj: dict[str, Any]) -> str:
    w = Writer()
    meta, spec, status = meta_of(obj), obj.get("spec") or {}, obj.get("status") or {}
    w.write(0, f"Name:\t{meta.get('name', '')}\n")
    w.write(0, f"Namespace:\t{meta.get('namespace', '')}\n")
    w.write(0, f"Selector:\t{humanize.format_selector(spec.get('selector'), '')}\n")
    node_selector = ((spec.get("template") or {}).get("spec") or {}).get("nodeSelector")
    w.write(0, f"Node-Selector:\t{humanize.format_labels(node_selector)}\n")
    labels_multiline(w, "Labels", meta.get("labels"))
    annotations_multiline(w, "Annotations", meta.get("annotations"))
    for title, field in (("Desired Number of Nodes Scheduled", "desiredNumberScheduled"),
                         ("Current Number of Nodes Scheduled", "currentNumberScheduled"),
                         ("Number of Nodes Scheduled with Up-to-date Pods", "updatedNumberScheduled"),
                         ("Number of Nodes Scheduled with Available Pods", "numberAvailable"),
                         ("Number of Nodes Misscheduled", "numberMisscheduled")):
        w.write(0, f"{title}: {status.get(field, 0)}\n")
    w.write(0, f"Pods Status:\t{_pods_status(ctx, obj)}\n")
    pod_template(w, spec.get("template"))
    events_section(w, ctx.events(obj))
    return w.text()


def _claim_templates(w: Writer, templates: list[dict[str, Any]]) -> None:
    if not templates:
        w.write(0, "Volume Claims:\t<none>\n")
        return
    w.write(0, "Volume Claims:\n")
    for pvc in templates:
        meta, spec = pvc.get("metadata") or {}, pvc.get("spec") or {}
        storage_class = spec.get("storageClassName") or \
            (meta.get("annotations") or {}).get("volume.beta.kubernetes.io/storage-class", "")
        w.write(1, f"Name:\t{meta.get('name', '')}\n")
        w.write(1, f"StorageClass:\t{storage_class}\n")
        labels_multiline(w, "Labels", meta.get("labels"), "  ")
        labels_multiline(w, "Annotations", meta.get("annotations"), "  ")
        capacity = ((spec.get("resources") or {}).get("requests") or {}).get("storage")
        w.write(1, f"Capacity:\t{capacity if capacity is not None else '<default>'}\n")
        w.write(1, f"Access Modes:\t[{' '.join(spec.get('accessModes') or [])}]\n")


@describer("apps", "StatefulSet")
def statefulset(ctx: Context, obj: dict[str, Any]) -> str:
    w = Writer()
    meta, spec, status = meta_of(obj), obj.get("spec") or {}, obj.get("status") or {}
    w.write(0, f"Name:\t{meta.get('name', '')}\n")
    w.write(0, f"Namespace:\t{meta.get('namespace', '')}\n")
    w.write(0, f"CreationTimestamp:\t{humanize.rfc1123z(meta.get('creationTimestamp'))}\n")
    w.write(0, f"Selector:\t{humanize.format_selector(spec.get('selector'), '')}\n")
    labels_multiline(w, "Labels", meta.get("labels"))
    annotations_multiline(w, "Annotations", meta.get("annotations"))
    w.write(0, f"Service Name:\t{spec.get('serviceName', '')}\n")
    w.write(0, f"Pod Management Policy:\t{spec.get('podManagementPolicy', '')}\n")
    w.write(0, f"Replicas:\t{spec.get('replicas', 1)} desired | {status.get('replicas', 0)} total\n")
    strategy = spec.get("updateStrategy") or {}
    w.write(0, f"Update Strategy:\t{strategy.get('type', '')}\n")
    rolling = strategy.get("rollingUpdate")
    if isinstance(rolling, dict) and rolling.get("partition") is not None:
        w.write(1, f"Partition:\t{rolling['partition']}\n")
        if rolling.get("maxUnavailable") is not None:
            w.write(1, f"MaxUnavailable:\t{rolling['maxUnavailable']}\n")
    retention = spec.get("persistentVolumeClaimRetentionPolicy")
    if isinstance(retention, dict):
        w.write(0, "Persistent Volume Claim Retention Policy:\n")
        w.write(1, f"WhenDeleted:\t{retention.get('whenDeleted', '')}\n")
        w.write(1, f"WhenScaled:\t{retention.get('whenScaled', '')}\n")
    w.write(0, f"Pods Status:\t{_pods_status(ctx, obj)}\n")
    pod_template(w, spec.get("template"))
    _claim_templates(w, [t for t in spec.get("volumeClaimTemplates") or [] if isinstance(t, dict)])
    events_section(w, ctx.events(obj))
    return w.text()
