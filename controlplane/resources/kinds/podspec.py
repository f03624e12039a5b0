"""The pod spec, shared by Pods and every workload's template: its defaults and its rules.

Defaults are kube's SetDefaults_PodSpec and below (`pkg/apis/core/v1/defaults.go`); rules are
`ValidatePodSpec` and below (`pkg/apis/core/validation`). A Pod adds its own on top (pod.py);
workloads check their templates with `pod_spec` and `template_rules` (workloads.py).
"""

from __future__ import annotations

import re
from typing import Any

from ...machinery import jsonio
from ...machinery.memo import Memo
from ...machinery.types import Obj
from ..fields import as_dict, as_int, as_list, as_str, at, child, dict_or_none, dicts, fill, fill_positive
from ..rules import (MAX_INT32, TAINT_EFFECTS, annotation_errors, enum, labels, name_errors, nonnegative,
                     port_num_or_name, port_range, protocol)
from ..validation import (NEGATIVE_MSG, QUANTITY_MSG, Cause, dns1123_label, dns1123_subdomain,
                          duplicate, forbidden, invalid, label_value, not_found, not_supported,
                          parse_quantity, port_name, qualified_name, required)

VOLUME_DEFAULT_MODE = 0o644  # 420: secret, configMap, downwardAPI and projected volumes


# --- defaults -------------------------------------------------------------------------------

# The docker reference grammar (distribution/reference), enough to find a tag or a digest.
_DOMAIN_PART = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_PATH_PART = r"[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*"
_IMAGE_REF = re.compile(
    rf"(?:{_DOMAIN_PART}(?:\.{_DOMAIN_PART})*(?::[0-9]+)?/)?{_PATH_PART}(?:/{_PATH_PART})*"
    r"(?::(?P<tag>[\w][\w.-]{0,127}))?"
    r"(?:@(?P<digest>[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}))?")


def image_pull_policy(image: Any) -> str:
    """`Always` for `:latest` or an untagged, undigested image, else `IfNotPresent` (as kube does)."""
    m = _IMAGE_REF.fullmatch(image) if isinstance(image, str) and len(image) <= 255 else None
    if m and m.group("tag") is None and m.group("digest") is None:
        return "Always"
    return "Always" if m and m.group("tag") == "latest" else "IfNotPresent"


def _http_get(handler: Any) -> None:
    action = dict_or_none(at(handler, "httpGet"))
    if action is not None:
        fill(action, "path", "/")
        fill(action, "scheme", "HTTP")


def _default_probe(probe: Any) -> None:
    if dict_or_none(probe) is None:
        return
    for key, value in (("timeoutSeconds", 1), ("periodSeconds", 10), ("successThreshold", 1), ("failureThreshold", 3)):
        fill_positive(probe, key, value)
    _http_get(probe)


def _field_ref(holder: Any) -> None:
    ref = dict_or_none(at(holder, "fieldRef"))
    if ref is not None:
        fill(ref, "apiVersion", "v1")


def _default_container(c: Obj) -> None:
    fill(c, "imagePullPolicy", image_pull_policy(c.get("image")))
    fill(c, "terminationMessagePath", "/dev/termination-log")
    fill(c, "terminationMessagePolicy", "File")
    child(c, "resources")  # a Go struct, not a pointer: always serialized, as {}
    for port in dicts(c.get("ports")):
        fill(port, "protocol", "TCP")
    for env in dicts(c.get("env")):
        _field_ref(env.get("valueFrom"))
    for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
        _default_probe(c.get(probe))
    _http_get(at(c, "lifecycle", "postStart"))
    _http_get(at(c, "lifecycle", "preStop"))


def _default_volume(vol: Obj) -> None:
    if all(v is None for k, v in vol.items() if k != "name"):
        vol["emptyDir"] = {}
    for source in ("secret", "configMap", "downwardAPI", "projected"):
        if dict_or_none(vol.get(source)) is not None:
            fill(vol[source], "defaultMode", VOLUME_DEFAULT_MODE)
    for item in dicts(at(vol, "downwardAPI", "items")):
        _field_ref(item)
    if dict_or_none(vol.get("hostPath")) is not None and "type" not in vol["hostPath"]:
        vol["hostPath"]["type"] = ""
    for src in dicts(at(vol, "projected", "sources")):
        for item in dicts(at(src, "downwardAPI", "items")):
            _field_ref(item)
        token = dict_or_none(src.get("serviceAccountToken"))
        if token is not None:
            fill(token, "expirationSeconds", 3600)


def default_pod_spec(spec: Obj) -> None:
    """SetDefaults_PodSpec and everything below it; shared by Pods and pod templates."""
    fill(spec, "dnsPolicy", "ClusterFirst")
    fill(spec, "restartPolicy", "Always")
    fill(spec, "terminationGracePeriodSeconds", 30)
    fill(spec, "schedulerName", "default-scheduler")
    child(spec, "securityContext")
    for c in dicts(spec.get("containers")) + dicts(spec.get("initContainers")):
        _default_container(c)
    for vol in dicts(spec.get("volumes")):
        _default_volume(vol)


def default_template(spec: Obj) -> None:
    """Defaults of `spec.template.spec` of a workload (pod templates get no Pod-only defaults)."""
    template = child(spec, "template")
    tspec = child(template, "spec") if template is not None else None
    if tspec is not None:
        default_pod_spec(tspec)


# --- rules ----------------------------------------------------------------------------------

def _volumes(spec: Obj, path: str) -> tuple[set[str], list[Cause]]:
    names: set[str] = set()
    out: list[Cause] = []
    for i, vol in enumerate(as_list(spec.get("volumes"))):
        vol, p = as_dict(vol), f"{path}.volumes[{i}]"
        name = as_str(vol.get("name"))
        errs = name_errors(f"{p}.name", name, dns1123_label) if name else [required(f"{p}.name")]
        if name in names:
            errs.append(duplicate(f"{p}.name", name))
        sources = [k for k, v in vol.items() if k != "name" and v is not None]
        errs += [forbidden(f"{p}.{k}", "may not specify more than 1 volume type") for k in sources[1:]]
        claim = vol.get("persistentVolumeClaim")
        if isinstance(claim, dict) and not as_str(claim.get("claimName")):
            errs.append(required(f"{p}.persistentVolumeClaim.claimName"))
        if errs:
            out += errs
        else:
            names.add(name)
    return names, out


def _handler(handler: Obj, path: str, kinds: tuple[str, ...]) -> list[Cause]:
    present = [k for k in kinds if handler.get(k) is not None]
    if not present:
        return [required(path, "must specify a handler type")]
    out = [forbidden(f"{path}.{k}", "may not specify more than 1 handler type") for k in present[1:]]
    action, p = as_dict(handler.get(present[0])), f"{path}.{present[0]}"
    if present[0] == "exec" and not as_list(action.get("command")):
        out.append(required(f"{p}.command"))
    if present[0] in ("httpGet", "tcpSocket", "grpc"):
        out += port_num_or_name(f"{p}.port", action.get("port"))
    if present[0] == "httpGet":
        out += enum(f"{p}.scheme", action.get("scheme"), ["HTTP", "HTTPS"])
    return out


def _probe(probe: Obj, path: str, success_must_be_one: bool) -> list[Cause]:
    out = _handler(probe, path, ("exec", "httpGet", "tcpSocket", "grpc"))
    for key in ("initialDelaySeconds", "timeoutSeconds", "periodSeconds", "successThreshold", "failureThreshold"):
        out += nonnegative(probe, key, path)
    threshold = as_int(probe.get("successThreshold"))
    if success_must_be_one and threshold is not None and threshold != 1:
        out.append(invalid(f"{path}.successThreshold", threshold, "must be 1"))
    return out


def _resources(res: Obj, path: str) -> list[Cause]:
    out: list[Cause] = []
    parsed: dict[tuple[str, str], Any] = {}
    for section in ("limits", "requests"):
        for name, q in as_dict(res.get(section)).items():
            value, p = parse_quantity(q), f"{path}.{section}[{name}]"
            if value is None:
                out.append(invalid(p, q, QUANTITY_MSG))
            elif value < 0:
                out.append(invalid(p, str(q), NEGATIVE_MSG))
            else:
                parsed[(section, name)] = value
    for (section, name), value in parsed.items():
        limit = parsed.get(("limits", name))
        if section == "requests" and limit is not None and value > limit:
            shown = as_dict(res.get("limits"))[name]
            out.append(invalid(f"{path}.requests", str(res["requests"][name]),
                               f"must be less than or equal to {name} limit of {shown}"))
    return out


def _ports(ports: Any, path: str) -> list[Cause]:
    out: list[Cause] = []
    names: set[str] = set()
    for i, port in enumerate(as_list(ports)):
        port, p = as_dict(port), f"{path}[{i}]"
        name = as_str(port.get("name"))
        if name and port_name(name):
            out += name_errors(f"{p}.name", name, port_name)
        elif name in names:
            out.append(duplicate(f"{p}.name", name))
        elif name:
            names.add(name)
        container_port = as_int(port.get("containerPort"))
        if container_port == 0:
            out.append(required(f"{p}.containerPort"))
        out += port_range(f"{p}.containerPort", container_port or None)
        out += port_range(f"{p}.hostPort", as_int(port.get("hostPort")) or None)
        out += protocol(f"{p}.protocol", port.get("protocol"))
    return out


def _descending(value: str, path: str) -> list[Cause]:
    """validateLocalDescendingPath: relative, no '..'."""
    out = [invalid(path, value, "must be a relative path")] if value.startswith("/") else []
    return out + ([invalid(path, value, "must not contain '..'")] if ".." in value.split("/") else [])


def _sub_path(mount: Obj, p: str) -> list[Cause]:
    sub, expr = as_str(mount.get("subPath")), as_str(mount.get("subPathExpr"))
    out = _descending(sub, f"{p}.subPath") if sub else []
    if expr:
        if sub:
            out.append(invalid(f"{p}.subPathExpr", expr, "subPathExpr and subPath are mutually exclusive"))
        out += _descending(expr, f"{p}.subPathExpr")
    return out


def _container(c: Obj, path: str, volumes: set[str], names: set[str], regular: bool) -> list[Cause]:
    name = as_str(c.get("name"))
    out = name_errors(f"{path}.name", name, dns1123_label) if name else [required(f"{path}.name")]
    if name in names:
        out.append(duplicate(f"{path}.name", name))
    names.add(name)
    if not as_str(c.get("image")):
        out.append(required(f"{path}.image"))
    out += enum(f"{path}.imagePullPolicy", c.get("imagePullPolicy"), ["Always", "IfNotPresent", "Never"])
    out += enum(f"{path}.terminationMessagePolicy", c.get("terminationMessagePolicy"),
                 ["File", "FallbackToLogsOnError"])
    out += _ports(c.get("ports"), f"{path}.ports")
    out += [required(f"{path}.env[{i}].name") for i, e in enumerate(as_list(c.get("env"))) if not as_str(as_dict(e).get("name"))]
    mount_paths: set[str] = set()
    for i, mount in enumerate(as_list(c.get("volumeMounts"))):
        mount, p = as_dict(mount), f"{path}.volumeMounts[{i}]"
        if as_str(mount.get("name")) not in volumes:
            out.append(not_found(f"{p}.name", as_str(mount.get("name"))))
        mount_path = as_str(mount.get("mountPath"))
        if not mount_path:
            out.append(required(f"{p}.mountPath"))
        elif mount_path in mount_paths:
            out.append(invalid(f"{p}.mountPath", mount_path, "must be unique"))
        mount_paths.add(mount_path)
        out += _sub_path(mount, p)
    out += _resources(as_dict(c.get("resources")), f"{path}.resources")
    if regular:
        for probe, must_be_one in (("livenessProbe", True), ("readinessProbe", False), ("startupProbe", True)):
            if isinstance(c.get(probe), dict):
                out += _probe(c[probe], f"{path}.{probe}", must_be_one)
        for hook in ("postStart", "preStop"):
            if isinstance(as_dict(c.get("lifecycle")).get(hook), dict):
                out += _handler(c["lifecycle"][hook], f"{path}.lifecycle.{hook}",
                                ("exec", "httpGet", "tcpSocket", "sleep"))
    return out


def _tolerations(tolerations: Any, path: str) -> list[Cause]:
    out: list[Cause] = []
    for i, t in enumerate(as_list(tolerations)):
        t, p = as_dict(t), f"{path}[{i}]"
        key, op, effect, value = (as_str(t.get(k)) for k in ("key", "operator", "effect", "value"))
        if key:
            out += name_errors(f"{p}.key", key, qualified_name)
        elif op != "Exists":
            out.append(invalid(f"{p}.operator", op, "operator must be Exists when `key` is empty, "
                               'which means "match all values and all keys"'))
        if t.get("tolerationSeconds") is not None and effect != "NoExecute":
            out.append(invalid(f"{p}.effect", effect, "effect must be 'NoExecute' when `tolerationSeconds` is set"))
        if op in ("Equal", "") and label_value(value):
            out.append(invalid(f"{p}.operator", value, ";".join(label_value(value))))
        elif op == "Exists" and value:
            out.append(invalid(f"{p}.operator", value, "value must be empty when `operator` is 'Exists'"))
        elif op not in ("Equal", "", "Exists"):
            out.append(not_supported(f"{p}.operator", op, ["Equal", "Exists"]))
        out += enum(f"{p}.effect", effect, TAINT_EFFECTS)
    return out


# A pure function of the spec: pods of one template are checked once (machinery/memo.py).
_CHECKED: Memo[tuple[str, bytes], tuple[Cause, ...]] = Memo(512)


def pod_spec(spec: Obj, path: str) -> list[Cause]:
    """Every problem of the pod spec at `path` (ValidatePodSpec)."""
    found = _CHECKED.get((path, jsonio.dumps(spec)), lambda: tuple(_pod_spec(spec, path)))
    return [c.copy() for c in found]


def _pod_spec(spec: Obj, path: str) -> list[Cause]:
    volumes, out = _volumes(spec, path)
    containers = as_list(spec.get("containers"))
    if not containers:
        out.append(required(f"{path}.containers"))
    names: set[str] = set()
    for i, c in enumerate(containers):
        out += _container(as_dict(c), f"{path}.containers[{i}]", volumes, names, regular=True)
    for i, c in enumerate(as_list(spec.get("initContainers"))):
        out += _container(as_dict(c), f"{path}.initContainers[{i}]", volumes, names, regular=False)
    out += enum(f"{path}.restartPolicy", spec.get("restartPolicy"), ["Always", "OnFailure", "Never"])
    out += enum(f"{path}.dnsPolicy", spec.get("dnsPolicy"),
                 ["ClusterFirstWithHostNet", "ClusterFirst", "Default", "None"])
    out += labels(spec.get("nodeSelector"), f"{path}.nodeSelector")
    deadline = as_int(spec.get("activeDeadlineSeconds"))
    if deadline is not None and not 1 <= deadline <= MAX_INT32:
        out.append(invalid(f"{path}.activeDeadlineSeconds", deadline, f"must be between 1 and {MAX_INT32}, inclusive"))
    if as_str(spec.get("nodeName")):
        out += name_errors(f"{path}.nodeName", spec["nodeName"], dns1123_subdomain)
    for key in ("hostname", "subdomain"):
        if as_str(spec.get(key)):
            out += name_errors(f"{path}.{key}", spec[key], dns1123_label)
    return out + _tolerations(spec.get("tolerations"), f"{path}.tolerations")


def template_rules(template: Obj, path: str) -> list[Cause]:
    """A workload's pod template at `path` (`spec.template`): its labels, annotations and pod spec."""
    tmeta = as_dict(template.get("metadata"))
    out = labels(tmeta.get("labels"), f"{path}.metadata.labels")
    out += annotation_errors(tmeta.get("annotations"), f"{path}.metadata.annotations")
    return out + pod_spec(as_dict(template.get("spec")), f"{path}.spec")


def long_running(template: Obj, path: str, kind: str) -> list[Cause]:
    """The pods of a ReplicaSet-like kind run until deleted: restartPolicy Always, no deadline."""
    tspec, out = as_dict(template.get("spec")), []
    restart = tspec.get("restartPolicy")
    if as_str(restart) and restart != "Always":
        out.append(not_supported(f"{path}.spec.restartPolicy", restart, ["Always"]))
    if tspec.get("activeDeadlineSeconds") is not None:
        out.append(forbidden(f"{path}.spec.activeDeadlineSeconds", f"activeDeadlineSeconds in {kind} is not Supported"))
    return out
