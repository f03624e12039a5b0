"""PersistentVolumes (v1, cluster-scoped): defaults, rules, the table, and the strategy.

Defaults from SetDefaults_PersistentVolume (Retain, Filesystem, phase Pending), rules from
ValidatePersistentVolume(Update): access modes, a `storage` capacity, one volume source (a
`local` one with node affinity), an immutable source, volumeMode and node affinity. The rules
claims share (access modes, class names, volume modes) live here too.
"""

from __future__ import annotations

import posixpath
from typing import Any

from ...machinery import volumes as v
from ...machinery.meta import now_rfc3339
from ...machinery.types import Obj
from ..fields import as_dict, as_list, as_str, child, fill, normalized
from ..info import STATUS, ResourceInfo
from ..kind import Kind
from ..rules import name_errors, requirement_values
from ..tables import AGE, NAME, Column, Printer, Row, or_
from ..validation import (Cause, GoLiteral, dns1123_subdomain, forbidden, go_quote, invalid, not_supported,
                          parse_quantity, qualified_name, required)
from .pod import _diff as spec_changes

ACCESS_MODES = sorted(mode for mode, _ in v.ACCESS_MODES)
RECLAIM_POLICIES = [v.DELETE, v.RECYCLE, v.RETAIN]
VOLUME_MODES = [v.BLOCK, v.FILESYSTEM]
HOST_PATH_TYPES = ["", "BlockDevice", "CharDevice", "Directory", "DirectoryOrCreate", "File", "FileOrCreate",
                   "Socket"]
# Every source a PersistentVolumeSpec may name (PersistentVolumeSource); exactly one is allowed.
SOURCES = ("hostPath", "gcePersistentDisk", "awsElasticBlockStore", "glusterfs", "flocker", "nfs", "rbd",
           "quobyte", "cephfs", "iscsi", "cinder", "fc", "flexVolume", "azureFile", "vsphereVolume",
           "photonPersistentDisk", "portworxVolume", "azureDisk", "scaleIO", "local", "storageos", "csi")
NOT_POSITIVE = "must be greater than zero"


# --- rules volumes and claims share -------------------------------------------------------------

def access_modes(spec: Obj, path: str, required_detail: str) -> list[Cause]:
    modes = as_list(spec.get("accessModes"))
    out = [] if modes else [required(f"{path}.accessModes", required_detail)]
    out += [not_supported(f"{path}.accessModes", m, ACCESS_MODES) for m in modes if m not in ACCESS_MODES]
    if "ReadWriteOncePod" in modes and any(m != "ReadWriteOncePod" and m in ACCESS_MODES for m in modes):
        out.append(forbidden(f"{path}.accessModes", "may not use ReadWriteOncePod with other access modes"))
    return out


def class_name(spec: Obj, path: str) -> list[Cause]:
    name = as_str(spec.get("storageClassName"))
    return name_errors(f"{path}.storageClassName", name, dns1123_subdomain) if name else []


def volume_mode(spec: Obj, path: str) -> list[Cause]:
    mode = spec.get("volumeMode")
    return [not_supported(f"{path}.volumeMode", mode, VOLUME_MODES)] if mode is not None and mode not in VOLUME_MODES \
        else []


def positive_quantity(value: Any, path: str) -> list[Cause]:
    q = parse_quantity(value)
    return [invalid(path, str(value), NOT_POSITIVE)] if q is not None and q <= 0 else []


def volume_mode_unchanged(new: Obj, old: Obj) -> list[Cause]:
    n, o = as_dict(new.get("spec")).get("volumeMode"), as_dict(old.get("spec")).get("volumeMode")
    # The field path is "volumeMode", not "spec.volumeMode": kube-apiserver's (ValidateImmutableField).
    return [invalid("volumeMode", n, "field is immutable")] if n != o else []


def _no_backsteps(value: str, path: str) -> list[Cause]:
    return [invalid(path, value, "must not contain '..'")] if ".." in value.split("/") else []


def _node_affinity(affinity: Obj, path: str) -> list[Cause]:
    required_terms = affinity.get("required")
    if not isinstance(required_terms, dict):
        return [required(f"{path}.required", "must specify required node constraints")]
    terms = as_list(required_terms.get("nodeSelectorTerms"))
    if not terms:
        return [required(f"{path}.required.nodeSelectorTerms", "must have at least one node selector term")]
    out: list[Cause] = []
    for i, term in enumerate(terms):
        for j, expr in enumerate(as_list(as_dict(term).get("matchExpressions"))):
            p = f"{path}.required.nodeSelectorTerms[{i}].matchExpressions[{j}]"
            out += requirement_values(as_dict(expr), p, numeric=True)
            out += name_errors(f"{p}.key", as_str(as_dict(expr).get("key")), qualified_name)
    return out


# --- defaults -------------------------------------------------------------------------------

def _default(obj: Obj) -> None:
    spec = child(obj, "spec")
    if spec is not None:
        fill(spec, "persistentVolumeReclaimPolicy", v.RETAIN)
        fill(spec, "volumeMode", v.FILESYSTEM)
        host_path = spec.get("hostPath")
        if isinstance(host_path, dict) and "type" not in host_path:
            host_path["type"] = ""
    status = child(obj, "status")
    if status is not None:
        fill(status, "phase", v.PENDING)


# --- rules ----------------------------------------------------------------------------------

def _sources(spec: Obj, path: str) -> list[Cause]:
    present = [s for s in SOURCES if spec.get(s) is not None]
    if not present:
        return [required(path, "must specify a volume type")]
    out = [forbidden(f"{path}.{s}", "may not specify more than 1 volume type") for s in present[1:]]
    kind, source = present[0], as_dict(spec.get(present[0]))
    if kind in ("local", "hostPath"):
        where = as_str(source.get("path"))
        if not where:
            out.append(required(f"{path}.{kind}.path"))
        else:
            out += _no_backsteps(where, f"{path}.{kind}.path")
    if kind == "local" and spec.get("nodeAffinity") is None:
        out.append(required(f"{path}.nodeAffinity", "Local volume requires node affinity"))
    if kind == "hostPath" and as_str(source.get("type")) not in HOST_PATH_TYPES:
        out.append(not_supported(f"{path}.hostPath.type", source.get("type"), HOST_PATH_TYPES))
    if kind == "hostPath" and as_str(spec.get("persistentVolumeReclaimPolicy")) == v.RECYCLE \
            and posixpath.normpath(as_str(source.get("path")) or ".") == "/":
        out.append(forbidden(f"{path}.persistentVolumeReclaimPolicy", "may not be 'recycle' for a hostPath mount of '/'"))
    return out


def _rules(obj: Obj) -> list[Cause]:
    spec, p = as_dict(obj.get("spec")), "spec"
    out = access_modes(spec, p, "")
    capacity = as_dict(spec.get("capacity"))
    if not capacity:
        out.append(required(f"{p}.capacity"))
    if "storage" not in capacity or len(capacity) > 1:
        shown = ", ".join(f"{go_quote(str(k))}:{go_quote(str(q))}" for k, q in sorted(capacity.items()))
        out.append(not_supported(f"{p}.capacity", GoLiteral(f"core.ResourceList{{{shown}}}"), ["storage"]))
    for name, q in capacity.items():
        out += positive_quantity(q, f"{p}.capacity[{name}]")
    policy = spec.get("persistentVolumeReclaimPolicy")
    if as_str(policy) and policy not in RECLAIM_POLICIES:
        out.append(not_supported(f"{p}.persistentVolumeReclaimPolicy", policy, RECLAIM_POLICIES))
    if isinstance(spec.get("nodeAffinity"), dict):
        out += _node_affinity(spec["nodeAffinity"], f"{p}.nodeAffinity")
    out += _sources(spec, p)
    return out + class_name(spec, p) + volume_mode(spec, p)


def _source_of(spec: Obj) -> Obj:
    return {k: spec[k] for k in SOURCES if spec.get(k) is not None}


def _update_rules(new: Obj, old: Obj) -> list[Cause]:
    ns, os_ = as_dict(new.get("spec")), as_dict(old.get("spec"))
    out: list[Cause] = []
    n_src, o_src = normalized(_source_of(ns)), normalized(_source_of(os_))
    if n_src != o_src:
        changes: list[str] = []
        spec_changes(o_src, n_src, "spec", changes)
        out.append(forbidden("spec.persistentvolumesource",
                             "spec.persistentvolumesource is immutable after creation\n" + "\n".join(changes[:10])))
    out += volume_mode_unchanged(new, old)
    if os_.get("nodeAffinity") is not None and normalized(ns.get("nodeAffinity")) != normalized(os_.get("nodeAffinity")):
        out.append(invalid("nodeAffinity", ns.get("nodeAffinity"), "field is immutable"))
    return out


# --- the table (printPersistentVolume) --------------------------------------------------------

def _status(r: Row) -> str:
    return "Terminating" if r.meta.get("deletionTimestamp") else r.status.get("phase") or ""


PRINTER = Printer((
    NAME,
    Column("Capacity", lambda r: str((r.spec.get("capacity") or {}).get("storage", "")),
           description="capacity is the description of the persistent volume's resources and capacity. More info: "
                       "https://kubernetes.io/docs/concepts/storage/persistent-volumes#capacity"),
    Column("Access Modes", lambda r: v.access_modes_string(r.spec.get("accessModes")),
           description="accessModes contains all ways the volume can be mounted. More info: "
                       "https://kubernetes.io/docs/concepts/storage/persistent-volumes#access-modes"),
    Column("Reclaim Policy", lambda r: r.spec.get("persistentVolumeReclaimPolicy") or "",
           description="persistentVolumeReclaimPolicy defines what happens to a persistent volume when released "
                       "from its claim. Valid options are Retain (default for manually created PersistentVolumes), "
                       "Delete (default for dynamically provisioned PersistentVolumes), and Recycle (deprecated). "
                       "Recycle must be supported by the volume plugin underlying this PersistentVolume. More info: "
                       "https://kubernetes.io/docs/concepts/storage/persistent-volumes#reclaiming"),
    Column("Status", _status, description="phase indicates if a volume is available, bound to a claim, or released "
                                          "by a claim. More info: https://kubernetes.io/docs/concepts/storage/"
                                          "persistent-volumes#phase"),
    Column("Claim", lambda r: v.claim_ref_key(r.obj),
           description="claimRef is part of a bi-directional binding between PersistentVolume and "
                       "PersistentVolumeClaim. Expected to be non-nil when bound. claim.VolumeName is the "
                       "authoritative bind between PV and PVC. More info: https://kubernetes.io/docs/concepts/"
                       "storage/persistent-volumes#binding"),
    Column("StorageClass", lambda r: v.class_of(r.obj), description="StorageClass of the pv"),
    Column("VolumeAttributesClass", lambda r: or_(r.spec.get("volumeAttributesClassName"), "<unset>"),
           description="VolumeAttributesClass of the pv"),
    Column("Reason", lambda r: r.status.get("reason") or "",
           description="reason is a brief CamelCase string that describes any failure and is meant for machine "
                       "parsing and tidy display in the CLI."),
    AGE,
    Column("VolumeMode", lambda r: or_(r.spec.get("volumeMode"), "<unset>"), priority=1,
           description="volumeMode defines if a volume is intended to be used with a formatted filesystem or to "
                       "remain in raw block state. Value of Filesystem is implied when not included in spec."),
))


# --- the kind -------------------------------------------------------------------------------

class PersistentVolumeKind(Kind):
    def prepare_for_create(self, obj: Obj) -> None:
        # PrepareForCreate: a new volume is Pending, since now (the binder makes it Available).
        obj["status"] = {"phase": v.PENDING, "lastPhaseTransitionTime": now_rfc3339()}


PERSISTENT_VOLUME = PersistentVolumeKind(
    ResourceInfo("", "v1", "persistentvolumes", "PersistentVolume", "persistentvolume", False, ("pv",),
                 subresources=(STATUS,), has_status=True),
    printer=PRINTER, default=_default, rules=(_rules,), update_rules=(_update_rules,))
