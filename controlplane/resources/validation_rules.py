"""Validation rules the JSON schema cannot express, as small per-kind functions in one table.

This module owns what kube-apiserver checks in `pkg/apis/*/validation` beyond types: object
names, labels and annotations, selectors matching templates, container and port sanity,
Service ports and cluster IPs, per-kind specifics, and what may change on update (immutable
selectors, pod spec, cluster IPs, ...). Messages and field paths follow Kubernetes'.

Rules read objects defensively: a field of the wrong type was already reported by the schema
check, so here it is treated as absent. Fields that defaulting fills (restartPolicy, protocol,
targetPort, ...) are accepted when absent.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Any, Callable, Iterable

from controlplane.resources.validation import (
    IP_MSG, NEGATIVE_MSG, PORT_RANGE_MSG, QUANTITY_MSG, Cause, GoLiteral, config_key, dns1035_label,
    dns1123_label, dns1123_subdomain, duplicate, forbidden, go_quote, go_string_list, go_string_map,
    invalid, is_ip, label_value, not_found, not_supported, parse_quantity, port_name, qualified_name,
    required, too_long)
from controlplane.resources import validation_rbac as rbac

Obj = dict[str, Any]
CreateRule = Callable[[Obj], Iterable[Cause]]
UpdateRule = Callable[[Obj, Obj], Iterable[Cause]]

MAX_INT32 = 2**31 - 1
PROTOCOLS = ["SCTP", "TCP", "UDP"]
TAINT_EFFECTS = ["NoSchedule", "PreferNoSchedule", "NoExecute"]
STANDARD_FINALIZERS = {"kubernetes", "orphan", "foregroundDeletion"}
IMMUTABLE_WHEN_SET = "field is immutable when `immutable` is set"


def _d(v: Any) -> dict[str, Any]:
    return v if isinstance(v, dict) else {}


def _l(v: Any) -> list[Any]:
    return v if isinstance(v, list) else []


def _s(v: Any) -> str:
    return v if isinstance(v, str) else ""


def _int(v: Any) -> int | None:
    return v if isinstance(v, int) and not isinstance(v, bool) else None


def _nonnegative(obj: Obj, key: str, path: str) -> list[Cause]:
    v = _int(obj.get(key))
    return [invalid(f"{path}.{key}", v, NEGATIVE_MSG)] if v is not None and v < 0 else []


def _port_range(path: str, port: int | None) -> list[Cause]:
    return [invalid(path, port, PORT_RANGE_MSG)] if port is not None and not 1 <= port <= 65535 else []


def _protocol(path: str, proto: Any) -> list[Cause]:
    return [not_supported(path, proto, PROTOCOLS)] if _s(proto) and proto not in PROTOCOLS else []


def _enum(path: str, value: Any, allowed: list[str]) -> list[Cause]:
    return [not_supported(path, value, allowed)] if _s(value) and value not in allowed else []


def _name_errors(path: str, value: str, check: Callable[[str], list[str]]) -> list[Cause]:
    return [invalid(path, value, m) for m in check(value)]


def _normalized(v: Any) -> Any:
    """Kubernetes' semantic equality: null, [] and {} are the same as an absent field."""
    if isinstance(v, dict):
        return {k: _normalized(x) for k, x in v.items() if x not in (None, [], {})}
    if isinstance(v, list):
        return [_normalized(x) for x in v]
    return v


# --- metadata -------------------------------------------------------------------------------

def labels(value: Any, path: str) -> list[Cause]:
    out = []
    for k, v in _d(value).items():
        out += _name_errors(path, k, qualified_name)
        if isinstance(v, str):
            out += _name_errors(path, v, label_value)
    return out


def _annotations(value: Any, path: str) -> list[Cause]:
    ann = _d(value)
    out = [invalid(path, k, m) for k in ann for m in qualified_name(k.lower())]
    if sum(len(k) + len(_s(v)) for k, v in ann.items()) > 256 * 1024:
        out.append(too_long(path, 256 * 1024))
    return out


def _finalizer(name: str, path: str, index_path: str) -> list[Cause]:
    out = _name_errors(path, name, qualified_name)
    if "/" not in name and name not in STANDARD_FINALIZERS:
        out.append(invalid(index_path, name, "name is neither a standard finalizer name nor is it fully qualified"))
    return out


def _metadata(obj: Obj, rules: KindRules) -> list[Cause]:
    meta = _d(obj.get("metadata"))
    name, generate = _s(meta.get("name")), _s(meta.get("generateName"))
    out: list[Cause] = []
    if generate:  # a generated name gets a random suffix, so a trailing '-' is fine
        masked = generate[:-1] + "a" if len(generate) > 1 and generate.endswith("-") else generate
        out += [invalid("metadata.generateName", generate, m) for m in rules.name_check(masked)]
    if name:
        out += _name_errors("metadata.name", name, rules.name_check)
    elif not generate:
        out.append(required("metadata.name", "name or generateName is required"))
    namespace = _s(meta.get("namespace"))
    if rules.namespaced and not namespace:
        out.append(required("metadata.namespace"))
    elif rules.namespaced:
        out += _name_errors("metadata.namespace", namespace, dns1123_label)
    elif namespace:
        out.append(forbidden("metadata.namespace", "not allowed on this type"))
    out += _nonnegative(meta, "generation", "metadata")
    out += labels(meta.get("labels"), "metadata.labels")
    out += _annotations(meta.get("annotations"), "metadata.annotations")
    for i, f in enumerate(_l(meta.get("finalizers"))):
        out += _finalizer(_s(f), "metadata.finalizers", f"metadata.finalizers[{i}]")
    for ref in _l(meta.get("ownerReferences")):
        ref, p = _d(ref), "metadata.ownerReferences"
        if not _s(ref.get("apiVersion")).split("/")[-1]:
            out.append(invalid(f"{p}.apiVersion", _s(ref.get("apiVersion")), "version must not be empty"))
        out += [invalid(f"{p}.{k}", _s(ref.get(k)), "must not be empty")
                for k in ("kind", "name", "uid") if not _s(ref.get(k))]
    return out


def _metadata_update(new: Obj, old: Obj) -> list[Cause]:
    nm, om = _d(new.get("metadata")), _d(old.get("metadata"))
    out = [invalid(f"metadata.{k}", _s(nm.get(k)), "field is immutable")
           for k in ("name", "namespace") if _s(nm.get(k)) != _s(om.get(k))]
    if _s(nm.get("uid")) and _s(nm.get("uid")) != _s(om.get("uid")):  # absent uid: server keeps the old
        out.append(invalid("metadata.uid", nm["uid"], "field is immutable"))
    if om.get("deletionTimestamp"):
        added = sorted(set(map(str, _l(nm.get("finalizers")))) - set(map(str, _l(om.get("finalizers")))))
        if added:
            out.append(forbidden("metadata.finalizers", "no new finalizers can be added if the object is "
                                 f"being deleted, found new finalizers {go_string_list(added)}"))
    return out


# --- label selectors ------------------------------------------------------------------------

def _selector_errors(sel: Obj, path: str) -> list[Cause]:
    out = labels(sel.get("matchLabels"), f"{path}.matchLabels")
    for i, expr in enumerate(_l(sel.get("matchExpressions"))):
        expr, p = _d(expr), f"{path}.matchExpressions[{i}]"
        op, values = expr.get("operator"), _l(expr.get("values"))
        if op in ("In", "NotIn") and not values:
            out.append(required(f"{p}.values", "must be specified when `operator` is 'In' or 'NotIn'"))
        elif op in ("Exists", "DoesNotExist") and values:
            out.append(forbidden(f"{p}.values", "may not be specified when `operator` is 'Exists' or 'DoesNotExist'"))
        elif op not in ("In", "NotIn", "Exists", "DoesNotExist"):
            out.append(invalid(f"{p}.operator", op, "not a valid selector operator"))
        out += _name_errors(f"{p}.key", _s(expr.get("key")), qualified_name)
        out += [invalid(f"{p}.values[{j}]", v, m) for j, v in enumerate(values) for m in label_value(_s(v))]
    return out


def selector_matches(sel: Obj, label_set: dict[str, Any]) -> bool:
    if any(label_set.get(k) != v for k, v in _d(sel.get("matchLabels")).items()):
        return False
    for expr in map(_d, _l(sel.get("matchExpressions"))):
        key, op, values = expr.get("key"), expr.get("operator"), _l(expr.get("values"))
        present = key in label_set
        if ((op == "In" and not (present and label_set[key] in values))
                or (op == "NotIn" and present and label_set[key] in values)
                or (op == "Exists" and not present) or (op == "DoesNotExist" and present)):
            return False
    return True


def _go_selector(sel: Obj) -> GoLiteral:
    """A LabelSelector as kube prints it in messages (%#v of v1.LabelSelector)."""
    ml = sel.get("matchLabels")
    exprs = sel.get("matchExpressions")
    if isinstance(exprs, list):
        rendered = ", ".join(
            "v1.LabelSelectorRequirement{Key:%s, Operator:%s, Values:%s}" % (
                go_quote(_s(e.get("key"))), go_quote(_s(e.get("operator"))),
                go_string_list(e.get("values") if isinstance(e.get("values"), list) else None))
            for e in map(_d, exprs))
        go_exprs = "[]v1.LabelSelectorRequirement{" + rendered + "}"
    else:
        go_exprs = "[]v1.LabelSelectorRequirement(nil)"
    return GoLiteral(f"v1.LabelSelector{{MatchLabels:{go_string_map(ml if isinstance(ml, dict) else None)}, "
                     f"MatchExpressions:{go_exprs}}}")


# --- pods and pod templates -----------------------------------------------------------------

def _volumes(spec: Obj, path: str) -> tuple[set[str], list[Cause]]:
    names: set[str] = set()
    out: list[Cause] = []
    for i, vol in enumerate(_l(spec.get("volumes"))):
        vol, p = _d(vol), f"{path}.volumes[{i}]"
        name = _s(vol.get("name"))
        errs = _name_errors(f"{p}.name", name, dns1123_label) if name else [required(f"{p}.name")]
        if name in names:
            errs.append(duplicate(f"{p}.name", name))
        sources = [k for k, v in vol.items() if k != "name" and v is not None]
        errs += [forbidden(f"{p}.{k}", "may not specify more than 1 volume type") for k in sources[1:]]
        if errs:
            out += errs
        else:
            names.add(name)
    return names, out


def _port_num_or_name(path: str, port: Any) -> list[Cause]:
    if isinstance(port, str):
        return _name_errors(path, port, port_name)
    return _port_range(path, _int(port))


def _handler(handler: Obj, path: str, kinds: tuple[str, ...]) -> list[Cause]:
    present = [k for k in kinds if handler.get(k) is not None]
    if not present:
        return [required(path, "must specify a handler type")]
    out = [forbidden(f"{path}.{k}", "may not specify more than 1 handler type") for k in present[1:]]
    action, p = _d(handler.get(present[0])), f"{path}.{present[0]}"
    if present[0] == "exec" and not _l(action.get("command")):
        out.append(required(f"{p}.command"))
    if present[0] in ("httpGet", "tcpSocket", "grpc"):
        out += _port_num_or_name(f"{p}.port", action.get("port"))
    if present[0] == "httpGet":
        out += _enum(f"{p}.scheme", action.get("scheme"), ["HTTP", "HTTPS"])
    return out


def _probe(probe: Obj, path: str, success_must_be_one: bool) -> list[Cause]:
    out = _handler(probe, path, ("exec", "httpGet", "tcpSocket", "grpc"))
    for key in ("initialDelaySeconds", "timeoutSeconds", "periodSeconds", "successThreshold", "failureThreshold"):
        out += _nonnegative(probe, key, path)
    threshold = _int(probe.get("successThreshold"))
    if success_must_be_one and threshold is not None and threshold != 1:
        out.append(invalid(f"{path}.successThreshold", threshold, "must be 1"))
    return out


def _resources(res: Obj, path: str) -> list[Cause]:
    out: list[Cause] = []
    parsed: dict[tuple[str, str], Any] = {}
    for section in ("limits", "requests"):
        for name, q in _d(res.get(section)).items():
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
            shown = _d(res.get("limits"))[name]
            out.append(invalid(f"{path}.requests", str(res["requests"][name]),
                               f"must be less than or equal to {name} limit of {shown}"))
    return out


def _ports(ports: Any, path: str) -> list[Cause]:
    out: list[Cause] = []
    names: set[str] = set()
    for i, port in enumerate(_l(ports)):
        port, p = _d(port), f"{path}[{i}]"
        name = _s(port.get("name"))
        if name and port_name(name):
            out += _name_errors(f"{p}.name", name, port_name)
        elif name in names:
            out.append(duplicate(f"{p}.name", name))
        elif name:
            names.add(name)
        container_port = _int(port.get("containerPort"))
        if container_port == 0:
            out.append(required(f"{p}.containerPort"))
        out += _port_range(f"{p}.containerPort", container_port or None)
        out += _port_range(f"{p}.hostPort", _int(port.get("hostPort")) or None)
        out += _protocol(f"{p}.protocol", port.get("protocol"))
    return out


def _container(c: Obj, path: str, volumes: set[str], names: set[str], regular: bool) -> list[Cause]:
    name = _s(c.get("name"))
    out = _name_errors(f"{path}.name", name, dns1123_label) if name else [required(f"{path}.name")]
    if name in names:
        out.append(duplicate(f"{path}.name", name))
    names.add(name)
    if not _s(c.get("image")):
        out.append(required(f"{path}.image"))
    out += _enum(f"{path}.imagePullPolicy", c.get("imagePullPolicy"), ["Always", "IfNotPresent", "Never"])
    out += _enum(f"{path}.terminationMessagePolicy", c.get("terminationMessagePolicy"),
                 ["File", "FallbackToLogsOnError"])
    out += _ports(c.get("ports"), f"{path}.ports")
    out += [required(f"{path}.env[{i}].name") for i, e in enumerate(_l(c.get("env"))) if not _s(_d(e).get("name"))]
    mount_paths: set[str] = set()
    for i, mount in enumerate(_l(c.get("volumeMounts"))):
        mount, p = _d(mount), f"{path}.volumeMounts[{i}]"
        if _s(mount.get("name")) not in volumes:
            out.append(not_found(f"{p}.name", _s(mount.get("name"))))
        mount_path = _s(mount.get("mountPath"))
        if not mount_path:
            out.append(required(f"{p}.mountPath"))
        elif mount_path in mount_paths:
            out.append(invalid(f"{p}.mountPath", mount_path, "must be unique"))
        mount_paths.add(mount_path)
    out += _resources(_d(c.get("resources")), f"{path}.resources")
    if regular:
        for probe, must_be_one in (("livenessProbe", True), ("readinessProbe", False), ("startupProbe", True)):
            if isinstance(c.get(probe), dict):
                out += _probe(c[probe], f"{path}.{probe}", must_be_one)
        for hook in ("postStart", "preStop"):
            if isinstance(_d(c.get("lifecycle")).get(hook), dict):
                out += _handler(c["lifecycle"][hook], f"{path}.lifecycle.{hook}",
                                ("exec", "httpGet", "tcpSocket", "sleep"))
    return out


def _tolerations(tolerations: Any, path: str) -> list[Cause]:
    out: list[Cause] = []
    for i, t in enumerate(_l(tolerations)):
        t, p = _d(t), f"{path}[{i}]"
        key, op, effect, value = (_s(t.get(k)) for k in ("key", "operator", "effect", "value"))
        if key:
            out += _name_errors(f"{p}.key", key, qualified_name)
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
        out += _enum(f"{p}.effect", effect, TAINT_EFFECTS)
    return out


def pod_spec(spec: Obj, path: str) -> list[Cause]:
    volumes, out = _volumes(spec, path)
    containers = _l(spec.get("containers"))
    if not containers:
        out.append(required(f"{path}.containers"))
    names: set[str] = set()
    for i, c in enumerate(containers):
        out += _container(_d(c), f"{path}.containers[{i}]", volumes, names, regular=True)
    for i, c in enumerate(_l(spec.get("initContainers"))):
        out += _container(_d(c), f"{path}.initContainers[{i}]", volumes, names, regular=False)
    out += _enum(f"{path}.restartPolicy", spec.get("restartPolicy"), ["Always", "OnFailure", "Never"])
    out += _enum(f"{path}.dnsPolicy", spec.get("dnsPolicy"),
                 ["ClusterFirstWithHostNet", "ClusterFirst", "Default", "None"])
    out += labels(spec.get("nodeSelector"), f"{path}.nodeSelector")
    deadline = _int(spec.get("activeDeadlineSeconds"))
    if deadline is not None and not 1 <= deadline <= MAX_INT32:
        out.append(invalid(f"{path}.activeDeadlineSeconds", deadline, f"must be between 1 and {MAX_INT32}, inclusive"))
    if _s(spec.get("nodeName")):
        out += _name_errors(f"{path}.nodeName", spec["nodeName"], dns1123_subdomain)
    for key in ("hostname", "subdomain"):
        if _s(spec.get(key)):
            out += _name_errors(f"{path}.{key}", spec[key], dns1123_label)
    return out + _tolerations(spec.get("tolerations"), f"{path}.tolerations")


def _pod(obj: Obj) -> list[Cause]:
    spec = _d(obj.get("spec"))
    out = pod_spec(spec, "spec")
    for i, c in enumerate(_l(spec.get("containers"))):
        image = _s(_d(c).get("image"))
        if image and image != image.strip():
            out.append(invalid(f"spec.containers[{i}].image", image, "must not have leading or trailing whitespace"))
    return out


UPDATABLE_POD_FIELDS = ",".join([
    "`spec.containers[*].image`", "`spec.initContainers[*].image`", "`spec.activeDeadlineSeconds`",
    "`spec.tolerations` (only additions to existing tolerations)",
    "`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)"])


def _diff(old: Any, new: Any, path: str, out: list[str]) -> None:
    if isinstance(old, dict) and isinstance(new, dict):
        for k in sorted(set(old) | set(new)):
            _diff(old.get(k), new.get(k), f"{path}.{k}", out)
    elif isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        for i, (o, n) in enumerate(zip(old, new)):
            _diff(o, n, f"{path}[{i}]", out)
    elif old != new:
        out.append(f"  {path}: {json.dumps(old)} -> {json.dumps(new)}")


def _pod_update(new: Obj, old: Obj) -> list[Cause]:
    ns, os_ = _d(new.get("spec")), _d(old.get("spec"))
    out: list[Cause] = []
    for key in ("containers", "initContainers"):
        nc, oc = _l(ns.get(key)), _l(os_.get(key))
        if len(nc) != len(oc):
            return [forbidden(f"spec.{key}", "pod updates may not add or remove containers")]
        out += [required(f"spec.{key}[{i}].image") for i, c in enumerate(nc) if not _s(_d(c).get("image"))]
    n_deadline, o_deadline = _int(ns.get("activeDeadlineSeconds")), _int(os_.get("activeDeadlineSeconds"))
    if n_deadline is not None and o_deadline is not None and o_deadline < n_deadline:
        out.append(invalid("spec.activeDeadlineSeconds", n_deadline, "must be less than or equal to previous value"))
    elif n_deadline is None and o_deadline is not None:
        out.append(invalid("spec.activeDeadlineSeconds", None, "must not update from a positive integer to nil value"))
    # Existing tolerations must survive; only their tolerationSeconds may change.
    new_tolerations = [_normalized(dict(_d(t), tolerationSeconds=None)) for t in _l(ns.get("tolerations"))]
    if any(_normalized(dict(_d(t), tolerationSeconds=None)) not in new_tolerations
           for t in _l(os_.get("tolerations"))):
        out.append(forbidden("spec.tolerations",
                             "existing toleration can not be modified except its tolerationSeconds"))
    # What is left after undoing the updatable fields must be unchanged.
    munged = dict(ns)
    for key in ("containers", "initContainers"):
        if key in ns:
            munged[key] = [dict(_d(c), image=_d(o).get("image")) for c, o in zip(_l(ns[key]), _l(os_.get(key)))]
    for key in ("activeDeadlineSeconds", "tolerations", "schedulingGates"):
        munged[key] = os_.get(key)
    # Binding (unset -> a node) reaches us as an ordinary update; kube's binding path skips this check.
    if not _s(os_.get("nodeName")):
        munged["nodeName"] = os_.get("nodeName")
    grace = _int(os_.get("terminationGracePeriodSeconds"))
    if grace is not None and grace < 0 and munged.get("terminationGracePeriodSeconds") == 1:
        munged["terminationGracePeriodSeconds"] = grace
    if _normalized(munged) != _normalized(os_):
        changes: list[str] = []
        _diff(_normalized(os_), _normalized(munged), "spec", changes)
        out.append(forbidden("spec", f"pod updates may not change fields other than {UPDATABLE_POD_FIELDS}\n"
                             + "\n".join(changes[:10])))
    return out


# --- workloads ------------------------------------------------------------------------------

def _replicated(obj: Obj) -> list[Cause]:
    """Shared by Deployment and ReplicaSet (ValidateReplicaSetSpec / ValidateDeploymentSpec)."""
    spec = _d(obj.get("spec"))
    out = _nonnegative(spec, "replicas", "spec") + _nonnegative(spec, "minReadySeconds", "spec")
    sel = spec.get("selector")
    selector_ok = False
    if sel is None:
        out.append(required("spec.selector"))
    elif isinstance(sel, dict):
        sel_errors = _selector_errors(sel, "spec.selector")
        if not _d(sel.get("matchLabels")) and not _l(sel.get("matchExpressions")):
            sel_errors.append(invalid("spec.selector", _go_selector(sel), "empty selector is invalid for deployment"))
        out += sel_errors
        selector_ok = not sel_errors
    template = spec.get("template")
    if template is None:
        out.append(required("spec.template"))
    elif isinstance(template, dict):
        tmeta = _d(template.get("metadata"))
        tlabels = tmeta.get("labels") if isinstance(tmeta.get("labels"), dict) else None
        if selector_ok and not selector_matches(_d(sel), tlabels or {}):
            out.append(invalid("spec.template.metadata.labels", go_string_map(tlabels),
                               "`selector` does not match template `labels`"))
        out += labels(tlabels, "spec.template.metadata.labels")
        out += _annotations(tmeta.get("annotations"), "spec.template.metadata.annotations")
        tspec = _d(template.get("spec"))
        out += pod_spec(tspec, "spec.template.spec")
        restart = tspec.get("restartPolicy")
        if _s(restart) and restart != "Always":
            out.append(not_supported("spec.template.spec.restartPolicy", restart, ["Always"]))
        if tspec.get("activeDeadlineSeconds") is not None:
            out.append(forbidden("spec.template.spec.activeDeadlineSeconds",
                                 "activeDeadlineSeconds in ReplicaSet is not Supported"))
    return out


def _int_or_percent(value: Any) -> int:
    if isinstance(value, str):
        digits = value[:-1] if value.endswith("%") else value
        return int(digits) if digits.isdigit() else 0
    return _int(value) or 0


def _rolling_update(ru: Obj, path: str) -> list[Cause]:
    out: list[Cause] = []
    for key in ("maxUnavailable", "maxSurge"):
        v, p = ru.get(key), f"{path}.{key}"
        if isinstance(v, str) and not (v.endswith("%") and v[:-1].isdigit()):
            out.append(invalid(p, GoLiteral(v), "a valid percent string must be a numeric string followed by an "
                               "ending '%' (e.g. '1%',  or '93%', regex used for validation is '[0-9]+%')"))
        elif _int(v) is not None and v < 0:
            out.append(invalid(p, v, NEGATIVE_MSG))
    mu, ms = ru.get("maxUnavailable"), ru.get("maxSurge")
    if mu is not None and ms is not None and _int_or_percent(mu) == 0 and _int_or_percent(ms) == 0:
        out.append(invalid(f"{path}.maxUnavailable", GoLiteral(str(mu)), "may not be 0 when `maxSurge` is 0"))
    if isinstance(mu, str) and mu.endswith("%") and _int_or_percent(mu) > 100:
        out.append(invalid(f"{path}.maxUnavailable", GoLiteral(mu), "must not be greater than 100%"))
    return out


def _deployment(obj: Obj) -> list[Cause]:
    spec = _d(obj.get("spec"))
    out = _replicated(obj) + _nonnegative(spec, "revisionHistoryLimit", "spec")
    strategy = _d(spec.get("strategy"))
    kind, rolling = strategy.get("type"), strategy.get("rollingUpdate")
    if kind == "Recreate" and rolling is not None:
        out.append(forbidden("spec.strategy.rollingUpdate", "may not be specified when strategy `type` is 'Recreate'"))
    elif kind in ("RollingUpdate", "", None) and isinstance(rolling, dict):
        out += _rolling_update(rolling, "spec.strategy.rollingUpdate")
    else:
        out += _enum("spec.strategy.type", kind, ["Recreate", "RollingUpdate"])
    deadline = _int(spec.get("progressDeadlineSeconds"))
    if deadline is not None:
        out += _nonnegative(spec, "progressDeadlineSeconds", "spec")
        if deadline <= (_int(spec.get("minReadySeconds")) or 0):
            out.append(invalid("spec.progressDeadlineSeconds", deadline, "must be greater than minReadySeconds"))
    return out


def _selector_update(new: Obj, old: Obj) -> list[Cause]:
    ns, os_ = _d(new.get("spec")).get("selector"), _d(old.get("spec")).get("selector")
    if _normalized(ns) != _normalized(os_):
        return [invalid("spec.selector", _go_selector(_d(ns)), "field is immutable")]
    return []


def _scale(obj: Obj) -> list[Cause]:
    return _nonnegative(_d(obj.get("spec")), "replicas", "spec")


def _binding(obj: Obj) -> list[Cause]:
    target = _d(obj.get("target"))
    out = []
    if _s(target.get("kind")) not in ("", "Node"):
        out.append(not_supported("target.kind", target["kind"], ["Node", "<empty>"]))
    if not _s(target.get("name")):
        out.append(required("target.name"))
    return out


# --- services and endpoints -----------------------------------------------------------------

def _cluster_ips(spec: Obj) -> list[str]:
    ips = [_s(ip) for ip in _l(spec.get("clusterIPs"))]
    return ips or ([spec["clusterIP"]] if _s(spec.get("clusterIP")) else [])


def _service_port(port: Obj, p: str, require_name: bool, names: set[str]) -> list[Cause]:
    name = _s(port.get("name"))
    out: list[Cause] = []
    if require_name and not name:
        out.append(required(f"{p}.name"))
    elif name:
        out += _name_errors(f"{p}.name", name, dns1123_label)
        out += [duplicate(f"{p}.name", name)] if name in names else []
        names.add(name)
    out += _port_range(f"{p}.port", _int(port.get("port")))
    out += _protocol(f"{p}.protocol", port.get("protocol"))
    target = port.get("targetPort")
    if target not in (None, 0, ""):  # unset target ports default to the port
        out += _port_num_or_name(f"{p}.targetPort", target)
    return out


def _service(obj: Obj) -> list[Cause]:
    spec = _d(obj.get("spec"))
    kind = _s(spec.get("type")) or "ClusterIP"
    ips = _cluster_ips(spec)
    ports = _l(spec.get("ports"))
    out = _enum("spec.type", kind, ["ClusterIP", "ExternalName", "LoadBalancer", "NodePort"])
    if not ports and ips != ["None"] and kind != "ExternalName":
        out.append(required("spec.ports"))
    if kind == "ExternalName":
        cname = _s(spec.get("externalName")).removesuffix(".")
        out += _name_errors("spec.externalName", cname, dns1123_subdomain) if cname else [required("spec.externalName")]
    names: set[str] = set()
    seen: set[tuple[str, Any]] = set()
    for i, port in enumerate(ports):
        port, p = _d(port), f"spec.ports[{i}]"
        out += _service_port(port, p, len(ports) > 1, names)
        if kind == "ClusterIP" and _int(port.get("nodePort")):
            out.append(forbidden(f"{p}.nodePort", "may not be used when `type` is 'ClusterIP'"))
        key = (_s(port.get("protocol")) or "TCP", _int(port.get("port")))
        if key in seen:
            out.append(duplicate(p, GoLiteral(
                f'core.ServicePort{{Name:"", Protocol:{go_quote(key[0])}, AppProtocol:(*string)(nil), '
                f'Port:{key[1]}, TargetPort:intstr.IntOrString{{Type:0, IntVal:0, StrVal:""}}, NodePort:0}}')))
        seen.add(key)
    if spec.get("selector") is not None:
        out += labels(spec.get("selector"), "spec.selector")
    out += _enum("spec.sessionAffinity", spec.get("sessionAffinity"), ["ClientIP", "None"])
    out += _enum("spec.internalTrafficPolicy", spec.get("internalTrafficPolicy"), ["Cluster", "Local"])
    out += _enum("spec.externalTrafficPolicy", spec.get("externalTrafficPolicy"), ["Cluster", "Local"])
    if kind != "ExternalName":
        cluster_ip, listed = _s(spec.get("clusterIP")), [_s(ip) for ip in _l(spec.get("clusterIPs"))]
        if cluster_ip and listed and listed[0] != cluster_ip:
            out.append(invalid("spec.clusterIPs", go_string_list(listed), "first value must match `clusterIP`"))
        elif not cluster_ip and listed:
            out.append(invalid("spec.clusterIPs", go_string_list(listed),
                               "must be empty when `clusterIP` is not specified"))
        out += [invalid(f"spec.clusterIPs[{i}]", ip, IP_MSG)
                for i, ip in enumerate(ips) if not (i == 0 and ip == "None") and not is_ip(ip)]
    return out


def _service_update(new: Obj, old: Obj) -> list[Cause]:
    ns, os_ = _d(new.get("spec")), _d(old.get("spec"))
    if "ExternalName" in (ns.get("type"), os_.get("type")):
        return []
    n, o = _cluster_ips(ns), _cluster_ips(os_)
    shown = go_string_list(n or None)
    if n == o or (n == ["None"] and o == ["None"]):
        return []
    if len(n) == len(o):
        return [invalid(f"spec.clusterIPs[{i}]", shown, "may not change once set")
                for i in range(len(n)) if n[i] != o[i]]
    if not n:
        return [invalid("spec.clusterIPs[0]", shown, "primary clusterIP can not be unset")]
    if o and n[0] != o[0]:
        return [invalid("spec.clusterIPs[0]", shown, "may not change once set")]
    return []


def _endpoint_ports(ports: list[Any], path: str, require_name: bool) -> list[Cause]:
    out: list[Cause] = []
    for i, port in enumerate(ports):
        port, p = _d(port), f"{path}[{i}]"
        name = _s(port.get("name"))
        if require_name and not name:
            out.append(required(f"{p}.name"))
        elif name:
            out += _name_errors(f"{p}.name", name, dns1123_label)
        if "port" in port:
            out += _port_range(f"{p}.port", _int(port.get("port")))
        out += _protocol(f"{p}.protocol", port.get("protocol"))
    return out


def _endpoints(obj: Obj) -> list[Cause]:
    out: list[Cause] = []
    for i, subset in enumerate(_l(obj.get("subsets"))):
        subset, p = _d(subset), f"subsets[{i}]"
        if not _l(subset.get("addresses")) and not _l(subset.get("notReadyAddresses")):
            out.append(required(p, "must specify `addresses` or `notReadyAddresses`"))
        for key in ("addresses", "notReadyAddresses"):
            for j, addr in enumerate(_l(subset.get(key))):
                addr, ap = _d(addr), f"{p}.{key}[{j}]"
                if isinstance(addr.get("ip"), str) and not is_ip(addr["ip"]):  # absent: schema says Required
                    out.append(invalid(f"{ap}.ip", addr["ip"], IP_MSG))
                if _s(addr.get("hostname")):
                    out += _name_errors(f"{ap}.hostname", addr["hostname"], dns1123_label)
                if _s(addr.get("nodeName")):
                    out += _name_errors(f"{ap}.nodeName", addr["nodeName"], dns1123_subdomain)
        ports = _l(subset.get("ports"))
        out += _endpoint_ports(ports, f"{p}.ports", len(ports) > 1)
    return out


def _endpoint_slice(obj: Obj) -> list[Cause]:
    out = _enum("addressType", obj.get("addressType"), ["FQDN", "IPv4", "IPv6"])
    for i, ep in enumerate(_l(obj.get("endpoints"))):
        if not _l(_d(ep).get("addresses")):
            out.append(required(f"endpoints[{i}].addresses", "must contain at least 1 address"))
    return out + _endpoint_ports(_l(obj.get("ports")), "ports", False)


def _endpoint_slice_update(new: Obj, old: Obj) -> list[Cause]:
    if new.get("addressType") != old.get("addressType"):
        return [invalid("addressType", new.get("addressType"), "field is immutable")]
    return []


# --- everything else ------------------------------------------------------------------------

def _namespace(obj: Obj) -> list[Cause]:
    return [c for f in _l(_d(obj.get("spec")).get("finalizers"))
            for c in _finalizer(_s(f), "spec.finalizers", "spec.finalizers")]


def _node(obj: Obj) -> list[Cause]:
    out: list[Cause] = []
    seen: set[tuple[str, str]] = set()
    for i, taint in enumerate(_l(_d(obj.get("spec")).get("taints"))):
        taint, p = _d(taint), f"spec.taints[{i}]"
        key, value, effect = (_s(taint.get(k)) for k in ("key", "value", "effect"))
        out += _name_errors(f"{p}.key", key, qualified_name)
        if label_value(value):
            out.append(invalid(f"{p}.value", value, ";".join(label_value(value))))
        out += [required(f"{p}.effect")] if not effect else _enum(f"{p}.effect", effect, TAINT_EFFECTS)
        if (key, effect) in seen:
            shown = (f"core.Taint{{Key:{go_quote(key)}, Value:{go_quote(value)}, Effect:{go_quote(effect)}, "
                     "TimeAdded:(*v1.Time)(nil)}")
            out.append(duplicate(p, GoLiteral(shown), "taints must be unique by key and effect pair"))
        seen.add((key, effect))
    return out


def _event(obj: Obj) -> list[Cause]:
    namespace = _s(_d(obj.get("metadata")).get("namespace"))
    involved = _s(_d(obj.get("involvedObject")).get("namespace"))
    # Events about cluster-scoped objects live in "default" (or no namespace).
    if (involved and involved != namespace) or (not involved and namespace not in ("", "default")):
        return [invalid("involvedObject.namespace", involved, "does not match event.namespace")]
    return []


def _lease(obj: Obj) -> list[Cause]:
    spec = _d(obj.get("spec"))
    duration = _int(spec.get("leaseDurationSeconds"))
    out = _nonnegative(spec, "leaseTransitions", "spec")
    if duration is not None and duration <= 0:
        out.insert(0, invalid("spec.leaseDurationSeconds", duration, "must be greater than 0"))
    return out


def _config_keys(data: Any, path: str) -> list[Cause]:
    return [invalid(f"{path}[{k}]", k, m) for k in _d(data) for m in config_key(k)]


def _decoded(data: Any, path: str) -> tuple[dict[str, bytes], list[Cause]]:
    """Base64 values of a data map; the API carries bytes as base64 strings."""
    values, out = {}, []
    for key, value in _d(data).items():
        try:
            values[key] = base64.b64decode(_s(value), validate=True)
        except (binascii.Error, ValueError):
            out.append(invalid(f"{path}[{key}]", "<secret contents redacted>", "illegal base64 data"))
    return values, out


def _config_map(obj: Obj) -> list[Cause]:
    data, binary = _d(obj.get("data")), _d(obj.get("binaryData"))
    out = _config_keys(data, "data") + _config_keys(binary, "binaryData")
    out += [invalid(f"data[{k}]", k, "duplicate of key present in binaryData") for k in data if k in binary]
    decoded, errs = _decoded(binary, "binaryData")
    if sum(len(_s(v).encode()) for v in data.values()) + sum(map(len, decoded.values())) > 1024 * 1024:
        errs.append(too_long("", 1024 * 1024))
    return out + errs


SECRET_REQUIRED_KEYS = {
    "kubernetes.io/dockercfg": [".dockercfg"], "kubernetes.io/dockerconfigjson": [".dockerconfigjson"],
    "kubernetes.io/ssh-auth": ["ssh-privatekey"], "kubernetes.io/tls": ["tls.crt", "tls.key"]}


def _secret(obj: Obj) -> list[Cause]:
    data, strings = _d(obj.get("data")), _d(obj.get("stringData"))
    decoded, out = _decoded(data, "data")
    out = _config_keys(data, "data") + _config_keys(strings, "data") + out
    if sum(map(len, decoded.values())) + sum(len(_s(v).encode()) for v in strings.values()) > 1024 * 1024:
        out.append(too_long("data", 1024 * 1024))
    kind, keys = _s(obj.get("type")), set(data) | set(strings)
    out += [required(f"data[{k}]") for k in SECRET_REQUIRED_KEYS.get(kind, []) if k not in keys]
    if kind == "kubernetes.io/basic-auth" and not keys & {"username", "password"}:
        out += [required("data[username]"), required("data[password]")]
    if kind == "kubernetes.io/service-account-token" and not _s(
            _d(_d(obj.get("metadata")).get("annotations")).get("kubernetes.io/service-account.name")):
        out.append(required("metadata.annotations[kubernetes.io/service-account.name]"))
    return out


def _immutable_data(keys: tuple[str, ...]) -> UpdateRule:
    def rule(new: Obj, old: Obj) -> list[Cause]:
        if old.get("immutable") is not True:
            return []
        out = [] if new.get("immutable") is True else [forbidden("immutable", IMMUTABLE_WHEN_SET)]
        return out + [forbidden(k, IMMUTABLE_WHEN_SET)
                      for k in keys if _normalized(new.get(k)) != _normalized(old.get(k))]
    return rule


def _secret_type_update(new: Obj, old: Obj) -> list[Cause]:
    n, o = _s(new.get("type")) or "Opaque", _s(old.get("type")) or "Opaque"
    return [invalid("type", n, "field is immutable")] if n != o else []


# --- the table ------------------------------------------------------------------------------

@dataclass(frozen=True)
class KindRules:
    """How one kind is validated beyond its schema."""

    namespaced: bool
    name_check: Callable[[str], list[str]]
    create: tuple[CreateRule, ...] = ()
    update: tuple[UpdateRule, ...] = ()
    has_metadata: bool = True  # Binding bodies carry no meaningful metadata


RULES: dict[tuple[str, str], KindRules] = {
    ("v1", "Namespace"): KindRules(False, dns1123_label, (_namespace,)),
    ("v1", "Node"): KindRules(False, dns1123_subdomain, (_node,)),
    ("v1", "Pod"): KindRules(True, dns1123_subdomain, (_pod,), (_pod_update,)),
    ("apps/v1", "Deployment"): KindRules(True, dns1123_subdomain, (_deployment,), (_selector_update,)),
    ("apps/v1", "ReplicaSet"): KindRules(True, dns1123_subdomain, (_replicated,), (_selector_update,)),
    ("v1", "Service"): KindRules(True, dns1035_label, (_service,), (_service_update,)),
    ("v1", "Endpoints"): KindRules(True, dns1123_subdomain, (_endpoints,)),
    ("v1", "Event"): KindRules(True, dns1123_subdomain, (_event,)),
    ("v1", "ConfigMap"): KindRules(True, dns1123_subdomain, (_config_map,), (_immutable_data(("data", "binaryData")),)),
    ("v1", "Secret"): KindRules(True, dns1123_subdomain, (_secret,), (_secret_type_update, _immutable_data(("data",)))),
    ("discovery.k8s.io/v1", "EndpointSlice"): KindRules(True, dns1123_subdomain, (_endpoint_slice,),
                                                        (_endpoint_slice_update,)),
    ("coordination.k8s.io/v1", "Lease"): KindRules(True, dns1123_subdomain, (_lease,)),
    ("autoscaling/v1", "Scale"): KindRules(True, dns1123_subdomain, (_scale,)),
    ("v1", "Binding"): KindRules(True, dns1123_subdomain, (_binding,), has_metadata=False),
    ("rbac.authorization.k8s.io/v1", "Role"): KindRules(True, rbac.path_segment_name, (rbac.role,)),
    ("rbac.authorization.k8s.io/v1", "ClusterRole"): KindRules(False, rbac.path_segment_name,
                                                                (rbac.cluster_role,)),
    ("rbac.authorization.k8s.io/v1", "RoleBinding"): KindRules(True, rbac.path_segment_name,
                                                                (rbac.role_binding,), (rbac.role_ref_update,)),
    ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding"): KindRules(
        False, rbac.path_segment_name, (rbac.cluster_role_binding,), (rbac.role_ref_update,)),
}


def check(obj: Obj, old: Obj | None) -> list[Cause]:
    """The rule findings for `obj` (and for the update from `old`); kinds without rules pass."""
    rules = RULES.get((obj.get("apiVersion"), obj.get("kind")))  # type: ignore[arg-type]
    if rules is None:
        return []
    out = _metadata(obj, rules) if rules.has_metadata else []
    if old is not None and rules.has_metadata:
        out += _metadata_update(obj, old)
    for rule in rules.create:
        out += rule(obj)
    if old is not None:
        for update_rule in rules.update:
            out += update_rule(obj, old)
    return out
