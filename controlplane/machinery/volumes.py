"""PersistentVolumes, claims and StorageClasses as plain data: the annotations, finalizers and
phases the API, the storage controllers, the scheduler and the gateway share, and the rules
that decide whether a volume can serve a claim (kube's pv_controller util: FindMatchingVolume,
CheckAccessModes, CheckVolumeModeMismatches, CheckNodeAffinity).

Pure: objects in, answers out. Malformed fields read as absent (validation reported them).
"""

from __future__ import annotations

from typing import Any, Callable, Iterable, Mapping

from .quantity import whole_units
from .selectors import SelectorError, label_selector_from_spec
from .types import Obj

# -- names the API and its clients agree on ------------------------------------------------------

PVC_PROTECTION = "kubernetes.io/pvc-protection"
PV_PROTECTION = "kubernetes.io/pv-protection"
PROVISIONER_FINALIZER = "external-provisioner.volume.kubernetes.io/finalizer"
"""Held on a dynamically provisioned volume until its provisioner has deleted the storage."""

DEFAULT_CLASS = "storageclass.kubernetes.io/is-default-class"
BETA_DEFAULT_CLASS = "storageclass.beta.kubernetes.io/is-default-class"
BETA_CLASS = "volume.beta.kubernetes.io/storage-class"
SELECTED_NODE = "volume.kubernetes.io/selected-node"
"""Set on a WaitForFirstConsumer claim by the scheduler: the node its volume must be made on."""
STORAGE_PROVISIONER = "volume.kubernetes.io/storage-provisioner"
BETA_STORAGE_PROVISIONER = "volume.beta.kubernetes.io/storage-provisioner"
PROVISIONED_BY = "pv.kubernetes.io/provisioned-by"
BIND_COMPLETED = "pv.kubernetes.io/bind-completed"
BOUND_BY_CONTROLLER = "pv.kubernetes.io/bound-by-controller"
NO_PROVISIONER = "kubernetes.io/no-provisioner"

IMMEDIATE, WAIT_FOR_FIRST_CONSUMER = "Immediate", "WaitForFirstConsumer"
RETAIN, DELETE, RECYCLE = "Retain", "Delete", "Recycle"
FILESYSTEM, BLOCK = "Filesystem", "Block"
# PersistentVolume phases, then claim phases.
PENDING, AVAILABLE, BOUND, RELEASED, FAILED = "Pending", "Available", "Bound", "Released", "Failed"
LOST = "Lost"

ACCESS_MODES = (("ReadWriteOnce", "RWO"), ("ReadOnlyMany", "ROX"), ("ReadWriteMany", "RWX"),
                ("ReadWriteOncePod", "RWOP"))
HOSTNAME_LABEL = "kubernetes.io/hostname"


def _md(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    md = obj.get("metadata")
    return md if isinstance(md, dict) else {}


def _spec(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    spec = obj.get("spec")
    return spec if isinstance(spec, dict) else {}


def annotations_of(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    ann = _md(obj).get("annotations")
    return ann if isinstance(ann, dict) else {}


# -- reading volumes and claims -------------------------------------------------------------------

def access_modes_string(modes: Iterable[Any] | None) -> str:
    """`RWO,ROX` as kubectl prints access modes (a fixed order, whatever the list's)."""
    have = set(modes or ())
    return ",".join(short for mode, short in ACCESS_MODES if mode in have)


def class_of(obj: Mapping[str, Any]) -> str:
    """The StorageClass a volume or claim names: the beta annotation first, as Kubernetes reads it."""
    beta = annotations_of(obj).get(BETA_CLASS)
    if isinstance(beta, str):
        return beta
    name = _spec(obj).get("storageClassName")
    return name if isinstance(name, str) else ""


def is_default_class(sc: Mapping[str, Any]) -> bool:
    ann = annotations_of(sc)
    return ann.get(DEFAULT_CLASS) == "true" or ann.get(BETA_DEFAULT_CLASS) == "true"


def default_class(classes: Iterable[Obj]) -> Obj | None:
    """The default StorageClass; with several, the newest (as kube-apiserver chooses since 1.26)."""
    defaults = [sc for sc in classes if is_default_class(sc) and not _md(sc).get("deletionTimestamp")]
    if not defaults:
        return None
    return max(defaults, key=lambda sc: (str(_md(sc).get("creationTimestamp") or ""), str(_md(sc).get("name"))))


def binding_mode(sc: Mapping[str, Any] | None) -> str:
    mode = (sc or {}).get("volumeBindingMode")
    return mode if isinstance(mode, str) and mode else IMMEDIATE


def requested_bytes(pvc: Mapping[str, Any]) -> int:
    requests = (_spec(pvc).get("resources") or {}).get("requests") or {}
    return whole_units(requests.get("storage")) if isinstance(requests, dict) else 0


def capacity_bytes(pv: Mapping[str, Any]) -> int:
    capacity = _spec(pv).get("capacity") or {}
    return whole_units(capacity.get("storage")) if isinstance(capacity, dict) else 0


def volume_mode(obj: Mapping[str, Any]) -> str:
    mode = _spec(obj).get("volumeMode")
    return mode if isinstance(mode, str) and mode else FILESYSTEM


def phase(obj: Mapping[str, Any]) -> str:
    status = obj.get("status")
    value = status.get("phase") if isinstance(status, dict) else None
    return value if isinstance(value, str) else ""


def key_of(obj: Mapping[str, Any]) -> str:
    md = _md(obj)
    return f"{md.get('namespace') or ''}/{md.get('name') or ''}"


def claim_ref(pv: Mapping[str, Any]) -> Mapping[str, Any] | None:
    ref = _spec(pv).get("claimRef")
    return ref if isinstance(ref, dict) and ref.get("name") else None


def claim_ref_key(pv: Mapping[str, Any]) -> str:
    """`namespace/name` of the claim a volume is (pre-)bound to, "" for none."""
    ref = claim_ref(pv)
    return f"{ref.get('namespace') or ''}/{ref.get('name')}" if ref else ""


def bound_to(pv: Mapping[str, Any], pvc: Mapping[str, Any]) -> bool:
    """Whether the volume's claimRef names this claim (and its uid, once the binder set one)."""
    ref = claim_ref(pv)
    if ref is None or claim_ref_key(pv) != key_of(pvc):
        return False
    return not ref.get("uid") or ref.get("uid") == _md(pvc).get("uid")


def provisioner_of(pvc: Mapping[str, Any]) -> str:
    ann = annotations_of(pvc)
    value = ann.get(STORAGE_PROVISIONER) or ann.get(BETA_STORAGE_PROVISIONER)
    return value if isinstance(value, str) else ""


def selected_node(pvc: Mapping[str, Any]) -> str:
    value = annotations_of(pvc).get(SELECTED_NODE)
    return value if isinstance(value, str) else ""


def claim_names(pod: Mapping[str, Any]) -> list[str]:
    """The claims a pod's volumes use: persistentVolumeClaim sources, and the claim of each
    generic ephemeral volume (named `<pod>-<volume>`, as Kubernetes names it)."""
    out: list[str] = []
    pod_name = _md(pod).get("name") or ""
    for v in _spec(pod).get("volumes") or []:
        if not isinstance(v, dict):
            continue
        source = v.get("persistentVolumeClaim")
        if isinstance(source, dict) and isinstance(source.get("claimName"), str) and source["claimName"]:
            out.append(source["claimName"])
        elif isinstance(v.get("ephemeral"), dict):
            out.append(f"{pod_name}-{v.get('name', '')}")
    return out


# -- node affinity of a volume ----------------------------------------------------------------------

def node_affinity_terms(pv: Mapping[str, Any]) -> list[Obj] | None:
    """The volume's required nodeSelectorTerms; None when it may be used from any node."""
    required = ((_spec(pv).get("nodeAffinity") or {}).get("required") or {})
    if not isinstance(required, dict) or "nodeSelectorTerms" not in required:
        return None
    return [t for t in required.get("nodeSelectorTerms") or [] if isinstance(t, dict)]


def _requirement(req: Mapping[str, Any], value: str | None) -> bool:
    op, values = req.get("operator"), [str(v) for v in req.get("values") or []]
    if op == "In":
        return value in values
    if op == "NotIn":
        return value not in values
    if op == "Exists":
        return value is not None
    if op == "DoesNotExist":
        return value is None
    if op in ("Gt", "Lt") and len(values) == 1:
        try:
            have, bound = int(value or ""), int(values[0])
        except ValueError:
            return False
        return have > bound if op == "Gt" else have < bound
    return False


def term_matches(term: Mapping[str, Any], labels: Mapping[str, str], name: str) -> bool:
    """One nodeSelectorTerm: every expression and field must hold; an empty term matches nothing."""
    exprs = [e for e in term.get("matchExpressions") or [] if isinstance(e, dict)]
    fields = [f for f in term.get("matchFields") or [] if isinstance(f, dict)]
    if not exprs and not fields:
        return False
    return (all(_requirement(e, labels.get(str(e.get("key")))) for e in exprs)
            and all(f.get("key") == "metadata.name" and _requirement(f, name) for f in fields))


def node_allows(pv: Mapping[str, Any], labels: Mapping[str, str], name: str) -> bool:
    """Whether a node may use the volume (its nodeAffinity: any one term)."""
    terms = node_affinity_terms(pv)
    return terms is None or any(term_matches(t, labels, name) for t in terms)


def pinned_node(pv: Mapping[str, Any]) -> str:
    """The one node a volume's affinity names by hostname (local volumes), else ""."""
    for term in node_affinity_terms(pv) or []:
        for e in term.get("matchExpressions") or []:
            if isinstance(e, dict) and e.get("key") == HOSTNAME_LABEL and e.get("operator") == "In" \
                    and len(e.get("values") or []) == 1:
                return str(e["values"][0])
    return ""


def hostname_affinity(node: str) -> Obj:
    """The nodeAffinity of a volume that lives on one node."""
    return {"required": {"nodeSelectorTerms": [{"matchExpressions": [
        {"key": HOSTNAME_LABEL, "operator": "In", "values": [node]}]}]}}


# -- can this volume serve this claim -------------------------------------------------------------

def access_modes_cover(pv: Mapping[str, Any], pvc: Mapping[str, Any]) -> bool:
    have = set(_spec(pv).get("accessModes") or ())
    return all(m in have for m in _spec(pvc).get("accessModes") or ())


def _selector_matches(pvc: Mapping[str, Any], pv: Mapping[str, Any]) -> bool:
    spec = _spec(pvc).get("selector")
    if spec is None:
        return True
    try:
        return label_selector_from_spec(spec).matches(_md(pv).get("labels") or {})
    except SelectorError:
        return False


def unsuitable(pv: Mapping[str, Any], pvc: Mapping[str, Any]) -> str:
    """Why an unbound volume cannot serve the claim ("" when it can): the checks of
    FindMatchingVolume for a volume not pre-bound to it."""
    if _md(pv).get("deletionTimestamp"):
        return "being deleted"
    if claim_ref(pv) is not None and not bound_to(pv, pvc):
        return "bound to another claim"
    if capacity_bytes(pv) < requested_bytes(pvc):
        return "too small"
    if volume_mode(pv) != volume_mode(pvc):
        return "volumeMode differs"
    if class_of(pv) != class_of(pvc):
        return "storage class differs"
    if not access_modes_cover(pv, pvc):
        return "access modes differ"
    if not _selector_matches(pvc, pv):
        return "labels do not match the selector"
    return ""


def best_volume(volumes: Iterable[Obj], pvc: Mapping[str, Any], *,
                node: tuple[Mapping[str, str], str] | None = None) -> Obj | None:
    """The volume the claim should bind: the one pre-bound to it, else the smallest Available
    volume that serves it. With `node` (labels, name), only volumes that node may use."""
    best: Obj | None = None
    for pv in volumes:
        if _md(pv).get("deletionTimestamp") or capacity_bytes(pv) < requested_bytes(pvc) \
                or volume_mode(pv) != volume_mode(pvc):
            continue
        usable = node is None or node_allows(pv, *node)
        if bound_to(pv, pvc):
            return pv if usable else None  # pre-bound: this one or none (FindMatchingVolume)
        if not usable or phase(pv) != AVAILABLE or unsuitable(pv, pvc):
            continue
        if best is None or capacity_bytes(pv) < capacity_bytes(best):
            best = pv
    return best


# -- the built-in local provisioner ---------------------------------------------------------------

LOCAL_PATH = "pyctl.io/local-path"
"""The provisioner name of pyctl's built-in local volumes (directories on a node, made by its agent)."""
NODE_VOLUME_DIR = "pyctl.io/local-volume-dir"
"""On a Node: where its agent keeps local volumes (absent: the agent provisions none)."""
NODE_VOLUME_CAPACITY = "pyctl.io/local-volume-capacity"
"""On a Node: the bytes local volumes may take there in total."""


def node_volume_dir(node: Mapping[str, Any] | None) -> str:
    value = annotations_of(node or {}).get(NODE_VOLUME_DIR)
    return value if isinstance(value, str) else ""


def node_volume_capacity(node: Mapping[str, Any] | None) -> int | None:
    """What local volumes may take on the node in all; None when its agent provisions none."""
    if not node_volume_dir(node):
        return None
    value = annotations_of(node or {}).get(NODE_VOLUME_CAPACITY)
    return whole_units(value) if value is not None else None


def local_volume_on(pv: Mapping[str, Any]) -> str:
    """The node a volume of the built-in provisioner lives on, "" for any other volume."""
    return pinned_node(pv) if annotations_of(pv).get(PROVISIONED_BY) == LOCAL_PATH else ""


def local_bytes_used(node: str, volumes: Iterable[Mapping[str, Any]]) -> int:
    """What the built-in provisioner's volumes on `node` hold: every one that still exists
    (a Released volume keeps its directory until its reclaim policy says otherwise)."""
    return sum(capacity_bytes(pv) for pv in volumes if local_volume_on(pv) == node)


def local_data_deletable(pv: Mapping[str, Any]) -> bool:
    """Whether the agent may delete a local volume's directory: the volume object is being
    deleted, its reclaim policy is Delete, and no claim uses it (pv-protection is gone once the
    volume is no longer Bound). Nothing else ever removes a user's data."""
    spec = _spec(pv)
    finalizers = _md(pv).get("finalizers") or []
    return (bool(_md(pv).get("deletionTimestamp")) and spec.get("persistentVolumeReclaimPolicy") == DELETE
            and PV_PROTECTION not in finalizers and phase(pv) != BOUND)


def topology_allows(sc: Mapping[str, Any], node: Mapping[str, Any]) -> bool:
    """A class's allowedTopologies (any one term; every expression of it) admit the node."""
    terms = sc.get("allowedTopologies") or []
    labels = _md(node).get("labels") or {}
    return not terms or any(all(labels.get(e.get("key")) in (e.get("values") or [])
                                for e in t.get("matchLabelExpressions") or []) for t in terms)


def protection_finalizers(obj: Mapping[str, Any], finalizer: str, in_use: Callable[[], bool]) -> list[str] | None:
    """What a protection controller writes: its finalizer added to an object that lacks it, or
    removed from one being deleted that nothing uses any more (`in_use`, asked only then);
    None when the finalizers stay as they are."""
    finalizers = list(_md(obj).get("finalizers") or [])
    if not _md(obj).get("deletionTimestamp"):
        return None if finalizer in finalizers else finalizers + [finalizer]
    if finalizer in finalizers and not in_use():
        return [f for f in finalizers if f != finalizer]
    return None
