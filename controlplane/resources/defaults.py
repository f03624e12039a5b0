"""Defaulting of API objects on create and update, as kube-apiserver does when it decodes a write.

This module owns the values Kubernetes fills in for fields a client left out: the v1 defaulters
(`pkg/apis/core/v1/defaults.go`, `pkg/apis/apps/v1/defaults.go`, discovery/v1), the Namespace
create-time finalizer and phase, and the DefaultTolerationSeconds admission plugin's
not-ready/unreachable tolerations. `apply_defaults` only fills what is missing, so applying it
twice equals applying it once; it ignores fields of the wrong type (validation reports them).
"""

from __future__ import annotations

import base64
import re
from typing import Any, Callable

__all__ = ["apply_defaults"]

Obj = dict[str, Any]

DEFAULT_TOLERATION_SECONDS = 300
NOT_READY_TAINT = "node.kubernetes.io/not-ready"
UNREACHABLE_TAINT = "node.kubernetes.io/unreachable"
VOLUME_DEFAULT_MODE = 0o644  # 420: secret, configMap, downwardAPI and projected volumes

# The docker reference grammar (distribution/reference), enough to find a tag or a digest.
_DOMAIN_PART = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_PATH_PART = r"[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*"
_IMAGE_REF = re.compile(
    rf"(?:{_DOMAIN_PART}(?:\.{_DOMAIN_PART})*(?::[0-9]+)?/)?{_PATH_PART}(?:/{_PATH_PART})*"
    r"(?::(?P<tag>[\w][\w.-]{0,127}))?"
    r"(?:@(?P<digest>[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}))?")


def _dict(v: Any) -> Obj | None:
    return v if isinstance(v, dict) else None


def _dicts(v: Any) -> list[Obj]:
    return [x for x in v if isinstance(x, dict)] if isinstance(v, list) else []


def _at(obj: Any, *keys: str) -> Any:
    """obj[k1][k2]... or None when any step is missing or not an object."""
    for key in keys:
        obj = obj.get(key) if isinstance(obj, dict) else None
    return obj


def _fill(obj: Obj, key: str, value: Any) -> None:
    """Set `key` when the client left it out (absent, null, or Go's zero "" for strings)."""
    if obj.get(key) in (None, ""):
        obj[key] = value


def _fill_positive(obj: Obj, key: str, value: int) -> None:
    # Probe counters are plain int32s in Go: 0 means "not set" and gets the default.
    if obj.get(key) in (None, 0):
        obj[key] = value


def _child(obj: Obj, key: str) -> Obj | None:
    """obj[key] as a dict, created empty when absent; None when it holds something else."""
    if obj.get(key) is None:
        obj[key] = {}
    return _dict(obj[key])


def image_pull_policy(image: Any) -> str:
    """`Always` for `:latest` or an untagged, undigested image, else `IfNotPresent` (as kube does)."""
    m = _IMAGE_REF.fullmatch(image) if isinstance(image, str) and len(image) <= 255 else None
    if m and m.group("tag") is None and m.group("digest") is None:
        return "Always"
    return "Always" if m and m.group("tag") == "latest" else "IfNotPresent"


# --- pods and pod templates -----------------------------------------------------------------

def _http_get(handler: Any) -> None:
    action = _dict(_at(handler, "httpGet"))
    if action is not None:
        _fill(action, "path", "/")
        _fill(action, "scheme", "HTTP")


def _probe(probe: Any) -> None:
    if _dict(probe) is None:
        return
    for key, value in (("timeoutSeconds", 1), ("periodSeconds", 10), ("successThreshold", 1), ("failureThreshold", 3)):
        _fill_positive(probe, key, value)
    _http_get(probe)


def _field_ref(holder: Any) -> None:
    ref = _dict(_at(holder, "fieldRef"))
    if ref is not None:
        _fill(ref, "apiVersion", "v1")


def _container(c: Obj) -> None:
    _fill(c, "imagePullPolicy", image_pull_policy(c.get("image")))
    _fill(c, "terminationMessagePath", "/dev/termination-log")
    _fill(c, "terminationMessagePolicy", "File")
    _child(c, "resources")  # a Go struct, not a pointer: always serialized, as {}
    for port in _dicts(c.get("ports")):
        _fill(port, "protocol", "TCP")
    for env in _dicts(c.get("env")):
        _field_ref(env.get("valueFrom"))
    for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
        _probe(c.get(probe))
    _http_get(_at(c, "lifecycle", "postStart"))
    _http_get(_at(c, "lifecycle", "preStop"))


def _volume(vol: Obj) -> None:
    if all(v is None for k, v in vol.items() if k != "name"):
        vol["emptyDir"] = {}
    for source in ("secret", "configMap", "downwardAPI", "projected"):
        if _dict(vol.get(source)) is not None:
            _fill(vol[source], "defaultMode", VOLUME_DEFAULT_MODE)
    for item in _dicts(_at(vol, "downwardAPI", "items")):
        _field_ref(item)
    if _dict(vol.get("hostPath")) is not None and "type" not in vol["hostPath"]:
        vol["hostPath"]["type"] = ""
    for src in _dicts(_at(vol, "projected", "sources")):
        for item in _dicts(_at(src, "downwardAPI", "items")):
            _field_ref(item)
        token = _dict(src.get("serviceAccountToken"))
        if token is not None:
            _fill(token, "expirationSeconds", 3600)


def _pod_spec(spec: Obj) -> None:
    """SetDefaults_PodSpec and everything below it; shared by Pods and pod templates."""
    _fill(spec, "dnsPolicy", "ClusterFirst")
    _fill(spec, "restartPolicy", "Always")
    _fill(spec, "terminationGracePeriodSeconds", 30)
    _fill(spec, "schedulerName", "default-scheduler")
    _child(spec, "securityContext")
    for c in _dicts(spec.get("containers")) + _dicts(spec.get("initContainers")):
        _container(c)
    for vol in _dicts(spec.get("volumes")):
        _volume(vol)


def _tolerates(tolerations: list[Obj], taint_key: str) -> bool:
    return any(t.get("key") in (None, "", taint_key) and t.get("effect") in (None, "", "NoExecute")
               for t in tolerations)


def _pod(obj: Obj) -> None:
    spec = _child(obj, "spec")
    if spec is None:
        return
    _pod_spec(spec)
    _fill(spec, "enableServiceLinks", True)  # SetDefaults_Pod: Pods only, never templates
    # The ServiceAccount admission plugin names `default` (Pods only); the deprecated
    # `serviceAccount` field mirrors it, as the v1 conversion writes it out.
    _fill(spec, "serviceAccountName", spec.get("serviceAccount") or "default")
    _fill(spec, "serviceAccount", spec.get("serviceAccountName"))
    for c in _dicts(spec.get("containers")) + _dicts(spec.get("initContainers")):
        resources = _dict(c.get("resources"))
        limits = _dict(_at(resources, "limits"))
        requests = _child(resources, "requests") if resources is not None and limits else None
        if limits and requests is not None:  # requests default to limits, on Pods only
            for name, quantity in limits.items():
                requests.setdefault(name, quantity)
        if spec.get("hostNetwork") is True:  # host networking: a container port is a host port
            for port in _dicts(c.get("ports")):
                if isinstance(port.get("containerPort"), int):
                    _fill_positive(port, "hostPort", port["containerPort"])
    # DefaultTolerationSeconds admission: evict from a dead node after 5 minutes, not at once.
    if spec.get("tolerations") is None:
        spec["tolerations"] = []
    tolerations = spec["tolerations"]
    if isinstance(tolerations, list):
        for taint in (NOT_READY_TAINT, UNREACHABLE_TAINT):
            if not _tolerates(_dicts(tolerations), taint):
                tolerations.append({"key": taint, "operator": "Exists", "effect": "NoExecute",
                                    "tolerationSeconds": DEFAULT_TOLERATION_SECONDS})


def _template(spec: Obj) -> None:
    template = _child(spec, "template")
    tspec = _child(template, "spec") if template is not None else None
    if tspec is not None:
        _pod_spec(tspec)


# --- workloads ------------------------------------------------------------------------------

def _replica_set(obj: Obj) -> None:
    spec = _child(obj, "spec")
    if spec is not None:
        _fill(spec, "replicas", 1)
        _template(spec)


def _deployment(obj: Obj) -> None:
    spec = _child(obj, "spec")
    if spec is None:
        return
    _fill(spec, "replicas", 1)
    strategy = _child(spec, "strategy")
    if strategy is not None:
        _fill(strategy, "type", "RollingUpdate")
        if strategy["type"] == "RollingUpdate":
            rolling = _child(strategy, "rollingUpdate")
            if rolling is not None:
                _fill(rolling, "maxUnavailable", "25%")
                _fill(rolling, "maxSurge", "25%")
    _fill(spec, "revisionHistoryLimit", 10)
    _fill(spec, "progressDeadlineSeconds", 600)
    _template(spec)


# --- services and endpoints -----------------------------------------------------------------

def _service(obj: Obj) -> None:
    spec = _child(obj, "spec")
    if spec is None:
        return
    _fill(spec, "type", "ClusterIP")
    _fill(spec, "sessionAffinity", "None")
    if spec["sessionAffinity"] == "None":
        spec.pop("sessionAffinityConfig", None)
    elif spec["sessionAffinity"] == "ClientIP":
        config = _child(spec, "sessionAffinityConfig")
        client_ip = _child(config, "clientIP") if config is not None else None
        if client_ip is not None:
            _fill(client_ip, "timeoutSeconds", 10800)
    for port in _dicts(spec.get("ports")):
        _fill(port, "protocol", "TCP")
        if port.get("targetPort") in (None, 0, "") and port.get("port") is not None:
            port["targetPort"] = port["port"]
    kind = spec["type"]
    if kind in ("NodePort", "LoadBalancer"):
        _fill(spec, "externalTrafficPolicy", "Cluster")
    if kind == "LoadBalancer":
        _fill(spec, "allocateLoadBalancerNodePorts", True)
    if kind == "ExternalName":
        return
    _fill(spec, "internalTrafficPolicy", "Cluster")
    cluster_ip = spec.get("clusterIP")
    if isinstance(cluster_ip, str) and cluster_ip and not spec.get("clusterIPs"):
        spec["clusterIPs"] = [cluster_ip]
    # A single-stack cluster: one family, picked from the address when there is one.
    _fill(spec, "ipFamilyPolicy", "SingleStack")
    if not spec.get("ipFamilies"):
        spec["ipFamilies"] = ["IPv6" if isinstance(cluster_ip, str) and ":" in cluster_ip else "IPv4"]


def _endpoints(obj: Obj) -> None:
    for subset in _dicts(obj.get("subsets")):
        for port in _dicts(subset.get("ports")):
            _fill(port, "protocol", "TCP")


def _endpoint_slice(obj: Obj) -> None:
    for port in _dicts(obj.get("ports")):
        if port.get("name") is None:
            port["name"] = ""
        _fill(port, "protocol", "TCP")


# --- everything else ------------------------------------------------------------------------

def _namespace(obj: Obj) -> None:
    spec = _child(obj, "spec")
    metadata = _dict(obj.get("metadata")) or {}
    # The "kubernetes" finalizer is what the namespace controller removes once the namespace is
    # empty; re-adding it to a namespace being deleted would block that deletion forever.
    if spec is not None and not metadata.get("deletionTimestamp"):
        if spec.get("finalizers") is None:
            spec["finalizers"] = []
        if isinstance(spec["finalizers"], list) and "kubernetes" not in spec["finalizers"]:
            spec["finalizers"].append("kubernetes")
    status = _child(obj, "status")
    if status is not None:
        _fill(status, "phase", "Active")


def _node(obj: Obj) -> None:
    status = _dict(obj.get("status"))
    if status is not None and status.get("allocatable") is None and _dict(status.get("capacity")) is not None:
        status["allocatable"] = dict(status["capacity"])


def _secret(obj: Obj) -> None:
    _fill(obj, "type", "Opaque")
    # stringData is write-only: merged into data (base64), winning over the same key there.
    strings = obj.get("stringData")
    if isinstance(strings, dict) and all(isinstance(v, str) for v in strings.values()):
        data = obj.get("data") if isinstance(obj.get("data"), dict) else {}
        data.update({k: base64.b64encode(v.encode()).decode() for k, v in strings.items()})
        obj["data"] = data
        del obj["stringData"]


DEFAULTERS: dict[tuple[str, str], Callable[[Obj], None]] = {
    ("v1", "Pod"): _pod,
    ("apps/v1", "Deployment"): _deployment,
    ("apps/v1", "ReplicaSet"): _replica_set,
    ("v1", "Service"): _service,
    ("v1", "Endpoints"): _endpoints,
    ("discovery.k8s.io/v1", "EndpointSlice"): _endpoint_slice,
    ("v1", "Namespace"): _namespace,
    ("v1", "Node"): _node,
    ("v1", "Secret"): _secret,
}


def apply_defaults(obj: dict[str, Any]) -> None:
    """Fill in Kubernetes' defaults for the object's kind, in place. Other kinds are left alone."""
    if isinstance(obj, dict):
        defaulter = DEFAULTERS.get((obj.get("apiVersion"), obj.get("kind")))  # type: ignore[arg-type]
        if defaulter is not None:
            defaulter(obj)
