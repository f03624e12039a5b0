"""Ingress and IngressClass (networking.k8s.io/v1): rules, and the tables `kubectl get` shows.

Rules from kube's `pkg/apis/networking/validation`: hosts are DNS names (a leading `*.`
allowed), never IPs; every path has a pathType, Exact and Prefix paths are absolute; a
backend is a Service (name and one of port name or number) or a resource, never both. An
IngressClass names its controller with a domain-prefixed path that never changes. Which
Ingresses pyctl's proxy serves is machinery/ingress.py's; the default class is filled in
on create by admission (api/admission/ingressclass.py).
"""

from __future__ import annotations

import re
from ...machinery.ingress import LEGACY_CLASS_ANNOTATION, PATH_TYPES
from ...machinery.types import Obj
from ..fields import as_dict, as_int, as_list, as_str, dicts
from ..info import STATUS, ResourceInfo
from ..kind import Kind
from ..rules import enum, name_errors, port_range
from ..tables import AGE, NAME, Column, Printer, Row
from ..validation import (Cause, GoLiteral, dns1035_label, dns1123_subdomain, forbidden, invalid, is_ip, port_name,
                          required)

_BAD_PATH_PARTS = ("//", "/./", "/../", "%2f", "%2F")


# --- Ingress rules ----------------------------------------------------------------------------

def _host(path: str, host: str) -> list[Cause]:
    if is_ip(host):
        return [invalid(path, host, "must be a DNS name, not an IP address")]
    if host.startswith("*."):
        return [invalid(path, host, m) for m in dns1123_subdomain(host[2:])]
    if "*" in host:
        return [invalid(path, host, "a wildcard DNS-1123 subdomain must start with '*.', followed by a valid "
                                    "DNS subdomain, which must consist of lower case alphanumeric characters, "
                                    "'-' or '.' and end with an alphanumeric character (e.g. '*.example.com', "
                                    "regex used for validation is '\\*\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?"
                                    "(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')")]
    return name_errors(path, host, dns1123_subdomain)


def _backend(path: str, backend: Obj) -> list[Cause]:
    service, resource = backend.get("service"), backend.get("resource")
    if service is not None and resource is not None:
        return [invalid(path, "", "cannot set both resource and service backends")]
    if resource is not None:
        r = as_dict(resource)
        return [required(f"{path}.resource.{k}") for k in ("kind", "name") if not as_str(r.get(k))]
    if service is None:
        return [invalid(path, "", "resource or service backend is required")]
    s = as_dict(service)
    out: list[Cause] = []
    name = as_str(s.get("name"))
    out += name_errors(f"{path}.service.name", name, dns1035_label) if name else [required(f"{path}.service.name")]
    port = as_dict(s.get("port"))
    by_name, by_number = as_str(port.get("name")), as_int(port.get("number"))
    if by_name and by_number:
        out.append(invalid(f"{path}.service.port", "", "cannot set both port name & port number"))
    elif by_name:
        out += name_errors(f"{path}.service.port.name", by_name, port_name)
    elif by_number:
        out += port_range(f"{path}.service.port.number", by_number)
    else:
        out.append(required(f"{path}.service.port", "port name or number is required"))
    return out


def _http_path(p: str, hp: Obj) -> list[Cause]:
    out: list[Cause] = []
    ptype, path = hp.get("pathType"), as_str(hp.get("path"))
    out += enum(f"{p}.pathType", ptype, list(PATH_TYPES))  # a missing one: the schema's Required
    if ptype in ("Exact", "Prefix") or path:
        if not path.startswith("/"):
            out.append(invalid(f"{p}.path", path, "must be an absolute path"))
        else:
            out += [invalid(f"{p}.path", path, f"must not contain '{bad}'") for bad in _BAD_PATH_PARTS if bad in path]
            if path.endswith(("/..", "/.")):
                out.append(invalid(f"{p}.path", path, "must not end with '/..' or '/.'"))
    return out + _backend(f"{p}.backend", as_dict(hp.get("backend")))


def _ingress_rules(obj: Obj) -> list[Cause]:
    spec = as_dict(obj.get("spec"))
    out: list[Cause] = []
    rules = as_list(spec.get("rules"))
    if spec.get("defaultBackend") is None and not rules:
        out.append(invalid("spec", GoLiteral("networking.IngressSpec{IngressClassName:(*string)(nil), "
                                             "DefaultBackend:(*networking.IngressBackend)(nil), ...}"),
                           "either `defaultBackend` or `rules` must be specified"))
    if spec.get("defaultBackend") is not None:
        out += _backend("spec.defaultBackend", as_dict(spec["defaultBackend"]))
    for i, rule in enumerate(dicts(rules)):
        p = f"spec.rules[{i}]"
        if as_str(rule.get("host")):
            out += _host(f"{p}.host", rule["host"])
        if rule.get("http") is not None:
            paths = as_list(as_dict(rule["http"]).get("paths"))
            if not paths:
                out.append(required(f"{p}.http.paths"))
            for j, hp in enumerate(dicts(paths)):
                out += _http_path(f"{p}.http.paths[{j}]", hp)
    for i, tls in enumerate(dicts(spec.get("tls"))):
        for j, host in enumerate(as_list(tls.get("hosts"))):
            if as_str(host):
                out += _host(f"spec.tls[{i}].hosts[{j}]", host)
        if as_str(tls.get("secretName")):
            out += name_errors(f"spec.tls[{i}].secretName", tls["secretName"], dns1123_subdomain)
    cls = spec.get("ingressClassName")
    if cls is not None:
        out += name_errors("spec.ingressClassName", as_str(cls), dns1123_subdomain)
    return out


def _ingress_class_rules(obj: Obj) -> list[Cause]:
    legacy = (as_dict(as_dict(obj.get("metadata")).get("annotations"))).get(LEGACY_CLASS_ANNOTATION)
    if legacy is not None and as_dict(obj.get("spec")).get("ingressClassName"):
        return [invalid(f"metadata.annotations.{LEGACY_CLASS_ANNOTATION}", legacy,
                        "can not be set when the class field is also set")]
    return []


# --- the Ingress table (printIngress) ---------------------------------------------------------

def _hosts(r: Row) -> str:
    hosts = [as_str(rule.get("host")) for rule in dicts(r.spec.get("rules")) if as_str(rule.get("host"))]
    if not hosts:
        return "*"
    shown = ",".join(hosts[:4])
    return f"{shown} + {len(hosts) - 4} more..." if len(hosts) > 4 else shown


def load_balancer_addresses(status: Obj) -> str:
    """`10.0.0.1,10.0.0.2`, as kubectl shows a loadBalancer status ("" when empty)."""
    found = [as_str(i.get("ip")) or as_str(i.get("hostname")) for i in dicts(as_dict(status.get("loadBalancer"))
                                                                               .get("ingress"))]
    return ",".join(a for a in found if a)


INGRESS_PRINTER = Printer((
    NAME,
    Column("Class", lambda r: as_str(r.spec.get("ingressClassName")) or "<none>",
           description="ingressClassName is the name of an IngressClass cluster resource."),
    Column("Hosts", _hosts, description="Hosts that incoming requests are matched against before the "
                                        "HTTPIngressPath is matched."),
    Column("Address", lambda r: load_balancer_addresses(r.status),
           description="Address is a list containing ingress points for the load-balancer."),
    Column("Ports", lambda r: "80, 443" if as_list(r.spec.get("tls")) else "80",
           description="Ports of TLS configurations that open."),
    AGE,
))


# --- IngressClass -----------------------------------------------------------------------------

_DOMAIN_PATH = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/[A-Za-z0-9/\-._~%!$&'()*+,;=:]+")


def _class_rules(obj: Obj) -> list[Cause]:
    spec = as_dict(obj.get("spec"))
    controller = as_str(spec.get("controller"))
    out: list[Cause] = []
    if not controller:
        out.append(required("spec.controller"))
    elif len(controller) > 250:
        out.append(invalid("spec.controller", controller, "must be no more than 250 characters"))
    elif not _DOMAIN_PATH.fullmatch(controller):
        out.append(invalid("spec.controller", controller, "must be a domain-prefixed path (such as \"acme.io/foo\")"))
    params = spec.get("parameters")
    if params is not None:
        params = as_dict(params)
        out += [required(f"spec.parameters.{k}") for k in ("kind", "name") if not as_str(params.get(k))]
        scope = params.get("scope")
        out += enum("spec.parameters.scope", scope, ["Cluster", "Namespace"])
        if scope == "Namespace" and not as_str(params.get("namespace")):
            out.append(required("spec.parameters.namespace", "`parameters.scope` is set to 'Namespace'"))
        if scope != "Namespace" and params.get("namespace") is not None:
            out.append(forbidden("spec.parameters.namespace", "`parameters.scope` is set to 'Cluster'"))
    return out


def _class_update_rules(new: Obj, old: Obj) -> list[Cause]:
    n, o = as_dict(new.get("spec")).get("controller"), as_dict(old.get("spec")).get("controller")
    return [invalid("spec.controller", n, "field is immutable")] if n != o else []


def _default_class(obj: Obj) -> None:
    params = as_dict(as_dict(obj.get("spec")).get("parameters"))
    if params and params.get("scope") is None:
        params["scope"] = "Cluster"


def _parameters(r: Row) -> str:
    p = as_dict(r.spec.get("parameters"))
    if not p:
        return "<none>"
    group = as_str(p.get("apiGroup"))
    return f"{group + '/' if group else ''}{as_str(p.get('kind'))}/{as_str(p.get('name'))}"


CLASS_PRINTER = Printer((
    NAME,
    Column("Controller", lambda r: as_str(r.spec.get("controller")),
           description="controller refers to the name of the controller that should handle this class."),
    Column("Parameters", _parameters,
           description="parameters is a link to a custom resource containing additional configuration."),
    AGE,
))


INGRESS = Kind(
    ResourceInfo("networking.k8s.io", "v1", "ingresses", "Ingress", "ingress", True, ("ing",),
                 subresources=(STATUS,), has_status=True),
    printer=INGRESS_PRINTER, rules=(_ingress_rules, _ingress_class_rules), initial_status={"loadBalancer": {}})

INGRESS_CLASS = Kind(
    ResourceInfo("networking.k8s.io", "v1", "ingressclasses", "IngressClass", "ingressclass", False),
    printer=CLASS_PRINTER, default=_default_class, rules=(_class_rules,), update_rules=(_class_update_rules,))
