"""Describers for PersistentVolume, PersistentVolumeClaim and StorageClass, laid out as kubectl's.

A claim's story is in its events (WaitForFirstConsumer, ExternalProvisioning, Provisioning,
ProvisioningSucceeded, ...) and in `Used By`, the pods that mount it.
"""

from __future__ import annotations

from typing import Any

from controlplane.machinery import volumes as v

from .. import humanize
from ..errors import PyctlError
from . import Context, Writer, annotations_multiline, describer, events_section, labels_multiline, meta_of


def _finalizers(meta: dict[str, Any]) -> str:
    """Go's %v of a []string: `[a b]`."""
    return "[" + " ".join(meta.get("finalizers") or []) + "]"


def _status(meta: dict[str, Any], status: dict[str, Any]) -> str:
    if meta.get("deletionTimestamp"):
        return f"Terminating (lasts {humanize.since(meta['deletionTimestamp'])})"
    return str(status.get("phase", ""))


def _node_affinity(w: Writer, affinity: dict[str, Any] | None) -> None:
    w.write(0, "Node Affinity:\t")
    required = (affinity or {}).get("required")
    if required is None:
        w.line("<none>")
        return
    w.line("")
    w.write(1, "Required Terms:\t")
    terms = required.get("nodeSelectorTerms") or []
    if not terms:
        w.line("<none>")
        return
    w.line("")
    for i, term in enumerate(terms):
        w.write(2, f"Term {i}:\t")
        exprs = term.get("matchExpressions") or []
        if not exprs:
            w.line("<none>")
        for j, e in enumerate(exprs):
            text = f"{e.get('key', '')} {str(e.get('operator', '')).lower()}"
            if e.get("values"):
                text += f" [{', '.join(map(str, e['values']))}]"
            w.write(2 if j else 0, ("\t" if j else "") + text + "\n")


def _source(w: Writer, spec: dict[str, Any]) -> None:
    w.write(0, "Source:\n")
    if isinstance(spec.get("hostPath"), dict):
        hp = spec["hostPath"]
        w.write(2, "Type:\tHostPath (bare host directory volume)\n")
        w.write(2, f"Path:\t{hp.get('path', '')}\n")
        w.write(2, f"HostPathType:\t{hp.get('type', '<none>')}\n")
    elif isinstance(spec.get("local"), dict):
        w.write(2, "Type:\tLocalVolume (a persistent volume backed by local storage on a node)\n")
        w.write(2, f"Path:\t{spec['local'].get('path', '')}\n")
    else:
        kind = next((k for k, val in spec.items() if isinstance(val, dict)
                     and k not in ("capacity", "claimRef", "nodeAffinity")), "")
        w.write(2, f"Type:\t{kind or '<unknown>'}\n")


@describer("", "PersistentVolume")
def persistent_volume(ctx: Context, obj: dict[str, Any]) -> str:
    w = Writer()
    meta, spec, status = meta_of(obj), obj.get("spec") or {}, obj.get("status") or {}
    w.write(0, f"Name:\t{meta.get('name', '')}\n")
    labels_multiline(w, "Labels", meta.get("labels"))
    annotations_multiline(w, "Annotations", meta.get("annotations"))
    w.write(0, f"Finalizers:\t{_finalizers(meta)}\n")
    w.write(0, f"StorageClass:\t{v.class_of(obj)}\n")
    w.write(0, f"Status:\t{_status(meta, status)}\n")
    w.write(0, f"Claim:\t{v.claim_ref_key(obj)}\n")
    w.write(0, f"Reclaim Policy:\t{spec.get('persistentVolumeReclaimPolicy', '')}\n")
    w.write(0, f"Access Modes:\t{v.access_modes_string(spec.get('accessModes'))}\n")
    if spec.get("volumeMode"):
        w.write(0, f"VolumeMode:\t{spec['volumeMode']}\n")
    w.write(0, f"Capacity:\t{(spec.get('capacity') or {}).get('storage', '')}\n")
    _node_affinity(w, spec.get("nodeAffinity"))
    w.write(0, f"Message:\t{status.get('message', '')}\n")
    _source(w, spec)
    events_section(w, ctx.events(obj))
    return w.text()


def _users(ctx: Context, claim: dict[str, Any]) -> list[str]:
    """The pods of the claim's namespace that name it (kubectl's getPodsForPVC)."""
    meta = meta_of(claim)
    try:
        pods = ctx.get(f"/api/v1/namespaces/{meta.get('namespace', '')}/pods").get("items") or []
    except PyctlError:
        return []
    return sorted(p["metadata"]["name"] for p in pods if meta.get("name") in v.claim_names(p))


@describer("", "PersistentVolumeClaim")
def persistent_volume_claim(ctx: Context, obj: dict[str, Any]) -> str:
    w = Writer()
    meta, spec, status = meta_of(obj), obj.get("spec") or {}, obj.get("status") or {}
    w.write(0, f"Name:\t{meta.get('name', '')}\n")
    w.write(0, f"Namespace:\t{meta.get('namespace', '')}\n")
    w.write(0, f"StorageClass:\t{v.class_of(obj)}\n")
    w.write(0, f"Status:\t{_status(meta, status)}\n")
    w.write(0, f"Volume:\t{spec.get('volumeName', '')}\n")
    labels_multiline(w, "Labels", meta.get("labels"))
    annotations_multiline(w, "Annotations", meta.get("annotations"))
    w.write(0, f"Finalizers:\t{_finalizers(meta)}\n")
    bound = bool(spec.get("volumeName"))
    w.write(0, f"Capacity:\t{(status.get('capacity') or {}).get('storage', '') if bound else ''}\n")
    w.write(0, f"Access Modes:\t{v.access_modes_string(status.get('accessModes')) if bound else ''}\n")
    if spec.get("volumeMode"):
        w.write(0, f"VolumeMode:\t{spec['volumeMode']}\n")
    source = spec.get("dataSource")
    if isinstance(source, dict):
        w.write(0, "DataSource:\n")
        if source.get("apiGroup"):
            w.write(1, f"APIGroup:\t{source['apiGroup']}\n")
        w.write(1, f"Kind:\t{source.get('kind', '')}\n")
        w.write(1, f"Name:\t{source.get('name', '')}\n")
    users = _users(ctx, obj)
    w.write(0, "Used By:\t")
    if not users:
        w.line("<none>")
    for i, name in enumerate(users):
        w.write(0, ("\t" if i else "") + name + "\n")
    events_section(w, ctx.events(obj))
    return w.text()


@describer("storage.k8s.io", "StorageClass")
def storage_class(ctx: Context, obj: dict[str, Any]) -> str:
    w = Writer()
    meta = meta_of(obj)
    w.write(0, f"Name:\t{meta.get('name', '')}\n")
    w.write(0, f"IsDefaultClass:\t{'Yes' if v.is_default_class(obj) else 'No'}\n")
    w.write(0, f"Annotations:\t{humanize.format_labels(meta.get('annotations'))}\n")
    w.write(0, f"Provisioner:\t{obj.get('provisioner', '')}\n")
    w.write(0, f"Parameters:\t{humanize.format_labels(obj.get('parameters'))}\n")
    expansion = obj.get("allowVolumeExpansion")
    w.write(0, f"AllowVolumeExpansion:\t{'<unset>' if expansion is None else str(bool(expansion))}\n")
    options = obj.get("mountOptions") or []
    if not options:
        w.write(0, "MountOptions:\t<none>\n")
    else:
        w.write(0, "MountOptions:\n")
        for option in options:
            w.write(1, f"{option}\n")
    if obj.get("reclaimPolicy"):
        w.write(0, f"ReclaimPolicy:\t{obj['reclaimPolicy']}\n")
    if obj.get("volumeBindingMode"):
        w.write(0, f"VolumeBindingMode:\t{obj['volumeBindingMode']}\n")
    topologies = obj.get("allowedTopologies")
    if topologies is not None:
        w.write(0, "AllowedTopologies:\t")
        if not topologies:
            w.line("<none>")
        else:
            w.line("")
            for i, term in enumerate(topologies):
                w.write(1, f"Term {i}:\t")
                for j, e in enumerate(term.get("matchLabelExpressions") or []):
                    w.write(1 if j else 0, ("\t" if j else "") + f"{e.get('key', '')} in [{', '.join(e.get('values') or [])}]\n")
    events_section(w, ctx.events(obj, with_kind=True))
    return w.text()
