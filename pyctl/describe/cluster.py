"""Describers for Node, Namespace, ConfigMap and Secret."""

from __future__ import annotations

from typing import Any

from .. import humanize, quantity
from ..errors import ApiError, PyctlError
from . import (Context, Writer, annotations_multiline, describer, events_section, object_header,
               labels_multiline, meta_of)

ROLE_PREFIX = "node-role.kubernetes.io/"


def _roles(labels: dict[str, str]) -> str:
    roles = {k[len(ROLE_PREFIX):] for k in labels if k.startswith(ROLE_PREFIX) and k != ROLE_PREFIX}
    roles |= {v for k, v in labels.items() if k == "kubernetes.io/role" and v}
    return ",".join(sorted(roles)) or "<none>"


def _taint(t: dict[str, Any]) -> str:
    text = t.get("key", "")
    if t.get("value"):
        text += f"={t['value']}"
    return f"{text}:{t.get('effect', '')}"


def _pod_totals(pod: dict[str, Any]) -> tuple[dict[str, quantity.Quantity], dict[str, quantity.Quantity]]:
    """A pod's requests and limits: its containers' sum, at least any init container's."""
    spec = pod.get("spec") or {}
    totals: list[dict[str, quantity.Quantity]] = [{}, {}]
    for c in spec.get("containers") or []:
        for i, key in enumerate(("requests", "limits")):
            for name, value in ((c.get("resources") or {}).get(key) or {}).items():
                totals[i][name] = totals[i].get(name, quantity.Quantity()) + quantity.Quantity.parse(value)
    for c in spec.get("initContainers") or []:
        for i, key in enumerate(("requests", "limits")):
            for name, value in ((c.get("resources") or {}).get(key) or {}).items():
                q = quantity.Quantity.parse(value)
                if q.value > totals[i].get(name, quantity.Quantity()).value:
                    totals[i][name] = q
    return totals[0], totals[1]


def _percent(part: quantity.Quantity, whole: quantity.Quantity, milli: bool) -> int:
    if not whole.value:
        return 0
    return int((part.milli / whole.milli if milli else part.value / whole.value) * 100)


def _node_resources(w: Writer, node: dict[str, Any], pods: list[dict[str, Any]]) -> None:
    status = node.get("status") or {}
    allocatable = status.get("allocatable") or status.get("capacity") or {}
    cpu = quantity.Quantity.parse(allocatable.get("cpu", 0))
    memory = quantity.Quantity.parse(allocatable.get("memory", 0))
    w.write(0, f"Non-terminated Pods:\t({len(pods)} in total)\n")
    w.write(1, "Namespace\tName\t\tCPU Requests\tCPU Limits\tMemory Requests\tMemory Limits\tAge\n")
    w.write(1, "---------\t----\t\t------------\t----------\t---------------\t-------------\t---\n")
    sums: list[dict[str, quantity.Quantity]] = [{}, {}]
    for pod in pods:
        req, lim = _pod_totals(pod)
        for i, part in enumerate((req, lim)):
            for name, q in part.items():
                sums[i][name] = sums[i].get(name, quantity.Quantity()) + q
        zero = quantity.Quantity()
        cells = []
        for part in (req, lim):
            q = part.get("cpu", zero)
            cells.append(f"{q} ({_percent(q, cpu, True)}%)")
        for part in (req, lim):
            q = part.get("memory", zero)
            cells.append(f"{q} ({_percent(q, memory, False)}%)")
        meta = meta_of(pod)
        w.write(1, f"{meta.get('namespace', '')}\t{meta.get('name', '')}\t\t{cells[0]}\t{cells[1]}\t"
                   f"{cells[2]}\t{cells[3]}\t{humanize.since(meta.get('creationTimestamp'))}\n")
    w.write(0, "Allocated resources:\n  (Total limits may be over 100 percent, i.e., overcommitted.)\n")
    w.write(1, "Resource\tRequests\tLimits\n")
    w.write(1, "--------\t--------\t------\n")
    storage = quantity.Quantity.parse(allocatable.get("ephemeral-storage", 0))
    for name, whole, milli in (("cpu", cpu, True), ("memory", memory, False),
                               ("ephemeral-storage", storage, False)):
        used = sums[0].get(name, quantity.Quantity())
        cap = sums[1].get(name, quantity.Quantity())
        w.write(1, f"{name}\t{used} ({_percent(used, whole, milli)}%)\t{cap} ({_percent(cap, whole, milli)}%)\n")


@describer("", "Node")
def node(ctx: Context, obj: dict[str, Any]) -> str:
    w = Writer()
    meta, spec, status = meta_of(obj), obj.get("spec") or {}, obj.get("status") or {}
    name = meta.get("name", "")
    w.write(0, f"Name:\t{name}\n")
    w.write(0, f"Roles:\t{_roles(meta.get('labels') or {})}\n")
    labels_multiline(w, "Labels", meta.get("labels"))
    annotations_multiline(w, "Annotations", meta.get("annotations"))
    w.write(0, f"CreationTimestamp:\t{humanize.rfc1123z(meta.get('creationTimestamp'))}\n")
    taints = sorted(spec.get("taints") or [], key=lambda t: (t.get("effect", ""), t.get("key", "")))
    w.write(0, "Taints:\t")
    if not taints:
        w.line("<none>")
    for i, t in enumerate(taints):
        w.write(0, ("\t" if i else "") + _taint(t) + "\n")
    w.write(0, f"Unschedulable:\t{'true' if spec.get('unschedulable') else 'false'}\n")
    try:
        lease = ctx.get(f"/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/{name}")
        lspec = lease.get("spec") or {}
        w.write(0, "Lease:\n")
        w.write(1, f"HolderIdentity:\t{lspec.get('holderIdentity') or '<unset>'}\n")
        for title, key in (("AcquireTime", "acquireTime"), ("RenewTime", "renewTime")):
            value = lspec.get(key)
            w.write(1, f"{title}:\t{humanize.rfc1123z(value) if value else '<unset>'}\n")
    except ApiError as exc:
        w.write(0, f"Lease:\tFailed to get lease: {exc.message}\n")
    conditions = status.get("conditions") or []
    if conditions:
        w.write(0, "Conditions:\n  Type\tStatus\tLastHeartbeatTime\tLastTransitionTime\tReason\tMessage\n")
        w.write(1, "----\t------\t-----------------\t------------------\t------\t-------\n")
        for c in conditions:
            w.write(1, f"{c.get('type', '')} \t{c.get('status', '')} \t"
                       f"{humanize.rfc1123z(c.get('lastHeartbeatTime'))} \t"
                       f"{humanize.rfc1123z(c.get('lastTransitionTime'))} \t{c.get('reason', '')} \t"
                       f"{c.get('message', '')}\n")
    w.write(0, "Addresses:\n")
    for address in status.get("addresses") or []:
        w.write(1, f"{address.get('type', '')}:\t{address.get('address', '')}\n")
    for title, key in (("Capacity", "capacity"), ("Allocatable", "allocatable")):
        values = status.get(key) or {}
        if values:
            w.write(0, f"{title}:\n")
            for resource in sorted(values):
                w.write(0, f"  {resource}:\t{quantity.canonical(values[resource])}\n")
    info = status.get("nodeInfo") or {}
    w.write(0, "System Info:\n")
    for title, key in (("Machine ID", "machineID"), ("System UUID", "systemUUID"), ("Boot ID", "bootID"),
                       ("Kernel Version", "kernelVersion"), ("OS Image", "osImage"),
                       ("Operating System", "operatingSystem"), ("Architecture", "architecture"),
                       ("Container Runtime Version", "containerRuntimeVersion"),
                       ("Kubelet Version", "kubeletVersion")):
        w.write(0, f"  {title}:\t{info.get(key, '')}\n")
    if info.get("kubeProxyVersion"):  # deprecated: kubectl shows it only when a node reports it
        w.write(0, f"  Kube-Proxy Version:\t{info['kubeProxyVersion']}\n")
    if spec.get("podCIDR"):
        w.write(0, f"PodCIDR:\t{spec['podCIDR']}\n")
    if spec.get("podCIDRs"):
        w.write(0, f"PodCIDRs:\t{','.join(spec['podCIDRs'])}\n")
    if spec.get("providerID"):
        w.write(0, f"ProviderID:\t{spec['providerID']}\n")
    try:
        pods = ctx.get("/api/v1/pods", {"fieldSelector": f"spec.nodeName={name},status.phase!=Succeeded,"
                                                          "status.phase!=Failed"}).get("items") or []
        _node_resources(w, obj, pods)
    except ApiError as exc:
        if exc.code != 403:
            raise
        w.write(0, "Pods:\tnot authorized\n")
    events = ctx.events(obj)
    if events is not None:
        # Agents may name the node by its name instead of its uid, as kubelets do.
        events += [e for e in ctx.events(obj, uid=name) or [] if e not in events]
    events_section(w, events)
    return w.text()


def _quota_and_limits(ctx: Context, w: Writer, namespace: str) -> None:
    for path, empty in (("resourcequotas", "No resource quota."),
                        ("limitranges", "No LimitRange resource.")):
        try:
            items = ctx.get(f"/api/v1/namespaces/{namespace}/{path}").get("items") or []
        except PyctlError:
            continue  # not served here: nothing to show, as kubectl does
        w.write(0, "\n")
        if not items:
            w.write(0, f"{empty}\n")
        else:
            w.write(0, f"{len(items)} {path} (see `pyctl describe {path}`)\n")


@describer("", "Namespace")
def namespace(ctx: Context, obj: dict[str, Any]) -> str:
    w = Writer()
    meta, status = meta_of(obj), obj.get("status") or {}
    w.write(0, f"Name:\t{meta.get('name', '')}\n")
    labels_multiline(w, "Labels", meta.get("labels"))
    annotations_multiline(w, "Annotations", meta.get("annotations"))
    w.write(0, f"Status:\t{status.get('phase', '')}\n")
    conditions = status.get("conditions") or []
    if conditions:
        w.write(0, "Conditions:\n")
        w.write(1, "Type\tStatus\tLastTransitionTime\tReason\tMessage\n")
        w.write(1, "----\t------\t------------------\t------\t-------\n")
        for c in conditions:
            w.write(1, f"{c.get('type', '')}\t{c.get('status', '')}\t"
                       f"{humanize.rfc1123z(c.get('lastTransitionTime'))}\t{c.get('reason', '')}\t"
                       f"{c.get('message', '')}\n")
    _quota_and_limits(ctx, w, meta.get("name", ""))
    return w.text()


@describer("", "ConfigMap")
def configmap(ctx: Context, obj: dict[str, Any]) -> str:
    w = Writer()
    meta = meta_of(obj)
    object_header(w, meta)
    w.write(0, "\nData\n====\n")
    for key, value in sorted((obj.get("data") or {}).items()):
        w.write(0, f"{key}:\n----\n{value}\n\n")
    w.write(0, "\nBinaryData\n====\n")
    for key, value in sorted((obj.get("binaryData") or {}).items()):
        w.write(0, f"{key}: {len(value) * 3 // 4} bytes\n")
    w.write(0, "\n")
    events_section(w, ctx.events(obj))
    return w.text()


@describer("", "Secret")
def secret(ctx: Context, obj: dict[str, Any]) -> str:
    import base64
    w = Writer()
    meta = meta_of(obj)
    object_header(w, meta)
    w.write(0, f"\nType:\t{obj.get('type', '')}\n")
    w.write(0, "\nData\n====\n")
    for key, value in sorted((obj.get("data") or {}).items()):
        try:
            size = len(base64.b64decode(value))
        except ValueError:
            size = len(value)
        w.write(0, f"{key}:\t{size} bytes\n")
    return w.text()
