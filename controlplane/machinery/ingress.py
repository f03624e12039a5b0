"""What Ingresses mean for pyctl's ingress proxy: which are ours, and the routing they add up to.

Pure functions of API objects, shared by the ingress controller (status), the gateway (the
routing table agents render into their proxy's configuration) and `pyctl describe ingress`.

Semantics, as the Ingress API documents them and ingress-nginx implements them:
* An Ingress is ours when its class (`spec.ingressClassName`, else the legacy
  `kubernetes.io/ingress.class` annotation) names an IngressClass whose controller is
  CONTROLLER; one with no class at all is ours when the default IngressClass is.
* Hosts: a request's Host (without port, lowercased) picks exact names first, then
  wildcards (`*.example.com` matches exactly one more label), then rules without a host.
  Once a host is picked, only its paths apply; a path that matches none goes to the
  defaultBackend of the oldest Ingress naming that host that has one, else 404 (another
  team's defaultBackend never catches a host's stray paths). A request for a host no rule
  names, or a path the host-less rules miss, goes to the oldest Ingress's defaultBackend,
  else 404.
* Paths in a host: the longest match wins; at equal length Exact beats Prefix. Prefix
  matches whole path elements (`/foo` matches `/foo`, `/foo/`, `/foo/bar`, not `/foobar`);
  ImplementationSpecific is a plain string prefix here.
* Two Ingresses claiming the same host, path and type: the older one wins.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

from .types import Obj

CONTROLLER = "pyctl.io/ingress"
"""spec.controller of the IngressClass this project's proxy serves."""
CLASS_NAME = "pyctl"
"""The IngressClass `pyctl cluster up` and deploy/install.sh create (the default class)."""
DEFAULT_CLASS_ANNOTATION = "ingressclass.kubernetes.io/is-default-class"
LEGACY_CLASS_ANNOTATION = "kubernetes.io/ingress.class"
PROXY_NODE_LABEL = "ingress.pyctl.io/proxy"
"""On a Node: "true" when its agent runs the ingress proxy (the agent says so when it registers)."""
PATH_TYPES = ("Exact", "Prefix", "ImplementationSpecific")


def default_class_object() -> Obj:
    """The default IngressClass, as installers create it."""
    return {"apiVersion": "networking.k8s.io/v1", "kind": "IngressClass",
            "metadata": {"name": CLASS_NAME, "annotations": {DEFAULT_CLASS_ANNOTATION: "true"},
                         "labels": {"app.kubernetes.io/managed-by": "pyctl"}},
            "spec": {"controller": CONTROLLER}}


def _md(obj: Obj) -> Obj:
    return obj.get("metadata") or {}


def is_default_class(ingress_class: Obj) -> bool:
    return (_md(ingress_class).get("annotations") or {}).get(DEFAULT_CLASS_ANNOTATION) == "true"


def default_class(classes: Iterable[Obj]) -> Obj | None:
    """The default IngressClass; with several, the most recently created (as Kubernetes picks)."""
    defaults = [c for c in classes if is_default_class(c)]
    return max(defaults, key=lambda c: (_md(c).get("creationTimestamp") or "", _md(c).get("name", "")),
               default=None)


def class_name(ingress: Obj) -> str | None:
    name = (ingress.get("spec") or {}).get("ingressClassName")
    if name:
        return str(name)
    legacy = (_md(ingress).get("annotations") or {}).get(LEGACY_CLASS_ANNOTATION)
    return str(legacy) if legacy else None


def handled(ingress: Obj, classes: Mapping[str, Obj]) -> bool:
    """Whether pyctl's proxy serves this Ingress; `classes` are the IngressClasses by name."""
    name = class_name(ingress)
    ingress_class = classes.get(name) if name is not None else default_class(classes.values())
    return ingress_class is not None and (ingress_class.get("spec") or {}).get("controller") == CONTROLLER


# -- the routing they add up to ---------------------------------------------------------------

@dataclass(frozen=True)
class BackendRef:
    namespace: str
    service: str
    port: int | str  # the Service's port number, or its name

    @property
    def name(self) -> str:
        return f"{self.namespace}/{self.service}:{self.port}"


@dataclass(frozen=True)
class PathRule:
    path: str
    path_type: str
    backend: BackendRef
    ingress: str  # namespace/name of the Ingress that asked for it


@dataclass
class HostRules:
    host: str  # "" = any host
    paths: list[PathRule] = field(default_factory=list)
    default: BackendRef | None = None  # for a path none of `paths` match; None = 404


@dataclass(frozen=True)
class TlsCertificate:
    namespace: str
    secret: str
    hosts: tuple[str, ...]  # the SNI names it serves


@dataclass
class Routing:
    hosts: list[HostRules]  # in match order
    default: BackendRef | None  # for a host no rule names; None = 404
    certificates: list[TlsCertificate]

    def backends(self) -> list[BackendRef]:
        refs = {p.backend for h in self.hosts for p in h.paths} | {h.default for h in self.hosts} | {self.default}
        return sorted((r for r in refs if r is not None), key=lambda r: r.name)


def backend_ref(namespace: str, backend: Any) -> BackendRef | None:
    """A Service backend of an Ingress (resource backends are not served: None)."""
    service = (backend or {}).get("service") if isinstance(backend, dict) else None
    if not isinstance(service, dict) or not service.get("name"):
        return None
    port = service.get("port") or {}
    number, name = port.get("number"), port.get("name")
    if not number and not name:
        return None
    return BackendRef(namespace, service["name"], int(number) if number else str(name))


def normalized_path(path: str, path_type: str) -> str:
    if path_type == "ImplementationSpecific" and not path:
        return "/"
    if path_type == "Prefix" and len(path) > 1:
        return path.rstrip("/") or "/"
    return path


def _host_order(host: str) -> tuple[int, int, str]:
    if not host:
        return (2, 0, "")
    if host.startswith("*."):
        return (1, -len(host), host)
    return (0, 0, host)


def _path_order(rule: PathRule) -> tuple[int, int]:
    return (-len(rule.path), 0 if rule.path_type == "Exact" else 1)


def _age(ingress: Obj) -> tuple[str, str, str]:
    md = _md(ingress)
    return (md.get("creationTimestamp") or "", md.get("namespace", ""), md.get("name", ""))


def routing(ingresses: Iterable[Obj]) -> Routing:
    """The routing table of the given Ingresses (already filtered to ours)."""
    hosts: dict[str, HostRules] = {}
    default: BackendRef | None = None
    certs: list[TlsCertificate] = []
    for ing in sorted(ingresses, key=_age):  # the oldest claim wins
        md, spec = _md(ing), ing.get("spec") or {}
        ns, who = md.get("namespace", ""), f"{md.get('namespace', '')}/{md.get('name', '')}"
        own_default = backend_ref(ns, spec.get("defaultBackend"))
        if default is None:
            default = own_default
        rule_hosts: list[str] = []
        for rule in spec.get("rules") or []:
            host = str(rule.get("host") or "").lower()
            rule_hosts.append(host)
            entry = hosts.setdefault(host, HostRules(host))
            if entry.default is None:
                entry.default = own_default
            claimed = {(p.path, p.path_type) for p in entry.paths}
            for p in ((rule.get("http") or {}).get("paths") or []):
                ptype = p.get("pathType") or "ImplementationSpecific"
                path = normalized_path(str(p.get("path") or ""), ptype)
                ref = backend_ref(ns, p.get("backend"))
                if ref is None or (path, ptype) in claimed:
                    continue
                claimed.add((path, ptype))
                entry.paths.append(PathRule(path, ptype, ref, who))
        for tls in spec.get("tls") or []:
            if tls.get("secretName"):
                names = tuple(str(h).lower() for h in tls.get("hosts") or []) or tuple(h for h in rule_hosts if h)
                certs.append(TlsCertificate(ns, tls["secretName"], names))
    ordered = sorted(hosts.values(), key=lambda h: _host_order(h.host))
    for h in ordered:
        h.paths.sort(key=_path_order)
        if not h.host:
            h.default = default
    return Routing(ordered, default, certs)


def prefix_matches(prefix: str, path: str) -> bool:
    """Whether a Prefix rule matches a request path (whole path elements)."""
    return prefix == "/" or path == prefix or path.startswith(prefix + "/")


def host_matches(rule_host: str, host: str) -> bool:
    if not rule_host:
        return True
    if rule_host.startswith("*."):
        head, _, rest = host.partition(".")
        return bool(head) and rest == rule_host[2:]
    return rule_host == host


def route(table: Routing, host: str, path: str) -> BackendRef | None:
    """Where a request goes (None: 404): the semantics the proxy configuration must implement,
    kept here as the reference the renderer is tested against."""
    host = host.split(":")[0].lower()
    for h in table.hosts:
        if not host_matches(h.host, host):
            continue
        for p in h.paths:
            if p.path_type == "Exact" and path == p.path:
                return p.backend
            if p.path_type == "Prefix" and prefix_matches(p.path, path):
                return p.backend
            if p.path_type == "ImplementationSpecific" and path.startswith(p.path):
                return p.backend
        return h.default
    return table.default
