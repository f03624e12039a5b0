"""Validation rules many kinds share: object metadata, label selectors, ports, enums.

Transcribed from kubernetes `pkg/apis/core/validation` and apimachinery's ObjectMeta and
LabelSelector validation; messages and field paths follow Kubernetes'. Each kind's own rules
live with it in `kinds/`.
"""

from __future__ import annotations

from typing import Any, Callable

from ..machinery.types import Obj
from .fields import as_dict, as_int, as_list, as_str
from .validation import (NEGATIVE_MSG, PORT_RANGE_MSG, Cause, GoLiteral, dns1123_label, forbidden,
                         go_quote, go_string_list, go_string_map, invalid, label_value, not_supported,
                         port_name, qualified_name, required, too_long)

NameCheck = Callable[[str], list[str]]
"""A format check of names (dns1123_subdomain, dns1035_label, ...): the problems, [] if fine."""

MAX_INT32 = 2**31 - 1
PROTOCOLS = ["SCTP", "TCP", "UDP"]
TAINT_EFFECTS = ["NoSchedule", "PreferNoSchedule", "NoExecute"]
STANDARD_FINALIZERS = {"kubernetes", "orphan", "foregroundDeletion"}


def nonnegative(obj: Obj, key: str, path: str) -> list[Cause]:
    v = as_int(obj.get(key))
    return [invalid(f"{path}.{key}", v, NEGATIVE_MSG)] if v is not None and v < 0 else []


def port_range(path: str, port: int | None) -> list[Cause]:
    return [invalid(path, port, PORT_RANGE_MSG)] if port is not None and not 1 <= port <= 65535 else []


def protocol(path: str, proto: Any) -> list[Cause]:
    return [not_supported(path, proto, PROTOCOLS)] if as_str(proto) and proto not in PROTOCOLS else []


def enum(path: str, value: Any, allowed: list[str]) -> list[Cause]:
    return [not_supported(path, value, allowed)] if as_str(value) and value not in allowed else []


def name_errors(path: str, value: str, check: Callable[[str], list[str]]) -> list[Cause]:
    return [invalid(path, value, m) for m in check(value)]


def labels(value: Any, path: str) -> list[Cause]:
    out = []
    for k, v in as_dict(value).items():
        out += name_errors(path, k, qualified_name)
        if isinstance(v, str):
            out += name_errors(path, v, label_value)
    return out


def annotation_errors(value: Any, path: str) -> list[Cause]:
    ann = as_dict(value)
    out = [invalid(path, k, m) for k in ann for m in qualified_name(k.lower())]
    if sum(len(k) + len(as_str(v)) for k, v in ann.items()) > 256 * 1024:
        out.append(too_long(path, 256 * 1024))
    return out


def finalizer(name: str, path: str, index_path: str) -> list[Cause]:
    out = name_errors(path, name, qualified_name)
    if "/" not in name and name not in STANDARD_FINALIZERS:
        out.append(invalid(index_path, name, "name is neither a standard finalizer name nor is it fully qualified"))
    return out


def metadata(obj: Obj, namespaced: bool, name_check: NameCheck) -> list[Cause]:
    meta = as_dict(obj.get("metadata"))
    name, generate = as_str(meta.get("name")), as_str(meta.get("generateName"))
    out: list[Cause] = []
    if generate:  # a generated name gets a random suffix, so a trailing '-' is fine
        masked = generate[:-1] + "a" if len(generate) > 1 and generate.endswith("-") else generate
        out += [invalid("metadata.generateName", generate, m) for m in name_check(masked)]
    if name:
        out += name_errors("metadata.name", name, name_check)
    elif not generate:
        out.append(required("metadata.name", "name or generateName is required"))
    namespace = as_str(meta.get("namespace"))
    if namespaced and not namespace:
        out.append(required("metadata.namespace"))
    elif namespaced:
        out += name_errors("metadata.namespace", namespace, dns1123_label)
    elif namespace:
        out.append(forbidden("metadata.namespace", "not allowed on this type"))
    out += nonnegative(meta, "generation", "metadata")
    out += labels(meta.get("labels"), "metadata.labels")
    out += annotation_errors(meta.get("annotations"), "metadata.annotations")
    for i, f in enumerate(as_list(meta.get("finalizers"))):
        out += finalizer(as_str(f), "metadata.finalizers", f"metadata.finalizers[{i}]")
    for ref in as_list(meta.get("ownerReferences")):
        ref, p = as_dict(ref), "metadata.ownerReferences"
        if not as_str(ref.get("apiVersion")).split("/")[-1]:
            out.append(invalid(f"{p}.apiVersion", as_str(ref.get("apiVersion")), "version must not be empty"))
        out += [invalid(f"{p}.{k}", as_str(ref.get(k)), "must not be empty")
                for k in ("kind", "name", "uid") if not as_str(ref.get(k))]
    return out


def metadata_update(new: Obj, old: Obj) -> list[Cause]:
    nm, om = as_dict(new.get("metadata")), as_dict(old.get("metadata"))
    out = [invalid(f"metadata.{k}", as_str(nm.get(k)), "field is immutable")
           for k in ("name", "namespace") if as_str(nm.get(k)) != as_str(om.get(k))]
    if as_str(nm.get("uid")) and as_str(nm.get("uid")) != as_str(om.get("uid")):  # absent uid: server keeps the old
        out.append(invalid("metadata.uid", nm["uid"], "field is immutable"))
    if om.get("deletionTimestamp"):
        added = sorted(set(map(str, as_list(nm.get("finalizers")))) - set(map(str, as_list(om.get("finalizers")))))
        if added:
            out.append(forbidden("metadata.finalizers", "no new finalizers can be added if the object is "
                                 f"being deleted, found new finalizers {go_string_list(added)}"))
    return out


def requirement_values(expr: Obj, p: str, numeric: bool = False) -> list[Cause]:
    """A selector requirement's operator and values: label selectors' rules, and with `numeric`
    a node selector's (which adds Gt and Lt, with one value)."""
    op, values = expr.get("operator"), as_list(expr.get("values"))
    if op in ("In", "NotIn") and not values:
        return [required(f"{p}.values", "must be specified when `operator` is 'In' or 'NotIn'")]
    if op in ("Exists", "DoesNotExist") and values:
        return [forbidden(f"{p}.values", "may not be specified when `operator` is 'Exists' or 'DoesNotExist'")]
    if numeric and op in ("Gt", "Lt"):
        return [] if len(values) == 1 else \
            [required(f"{p}.values", "must be specified single value when `operator` is 'Lt' or 'Gt'")]
    if op not in ("In", "NotIn", "Exists", "DoesNotExist"):
        return [invalid(f"{p}.operator", op, "not a valid selector operator")]
    return []


def selector_errors(sel: Obj, path: str) -> list[Cause]:
    out = labels(sel.get("matchLabels"), f"{path}.matchLabels")
    for i, expr in enumerate(as_list(sel.get("matchExpressions"))):
        expr, p = as_dict(expr), f"{path}.matchExpressions[{i}]"
        values = as_list(expr.get("values"))
        out += requirement_values(expr, p)
        out += name_errors(f"{p}.key", as_str(expr.get("key")), qualified_name)
        out += [invalid(f"{p}.values[{j}]", v, m) for j, v in enumerate(values) for m in label_value(as_str(v))]
    return out


def selector_matches(sel: Obj, label_set: dict[str, Any]) -> bool:
    if any(label_set.get(k) != v for k, v in as_dict(sel.get("matchLabels")).items()):
        return False
    for expr in map(as_dict, as_list(sel.get("matchExpressions"))):
        key, op, values = as_str(expr.get("key")), expr.get("operator"), as_list(expr.get("values"))
        present = key in label_set
        if ((op == "In" and not (present and label_set[key] in values))
                or (op == "NotIn" and present and label_set[key] in values)
                or (op == "Exists" and not present) or (op == "DoesNotExist" and present)):
            return False
    return True


def go_selector(sel: Obj) -> GoLiteral:
    """A LabelSelector as kube prints it in messages (%#v of v1.LabelSelector)."""
    ml = sel.get("matchLabels")
    exprs = sel.get("matchExpressions")
    if isinstance(exprs, list):
        rendered = ", ".join(
            "v1.LabelSelectorRequirement{Key:%s, Operator:%s, Values:%s}" % (
                go_quote(as_str(e.get("key"))), go_quote(as_str(e.get("operator"))),
                go_string_list(e.get("values") if isinstance(e.get("values"), list) else None))
            for e in map(as_dict, exprs))
        go_exprs = "[]v1.LabelSelectorRequirement{" + rendered + "}"
    else:
        go_exprs = "[]v1.LabelSelectorRequirement(nil)"
    return GoLiteral(f"v1.LabelSelector{{MatchLabels:{go_string_map(ml if isinstance(ml, dict) else None)}, "
                     f"MatchExpressions:{go_exprs}}}")


def port_num_or_name(path: str, port: Any) -> list[Cause]:
    if isinstance(port, str):
        return name_errors(path, port, port_name)
    return port_range(path, as_int(port))
