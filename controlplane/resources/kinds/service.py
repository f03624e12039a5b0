"""Services (v1): defaults, rules, the table, and which Services hold a ClusterIP.

Defaults from `pkg/apis/core/v1/defaults.go`, rules from ValidateService: ports, selectors,
cluster IPs that never change once set. The ClusterIP itself is allocated where the Service is
stored (api/serviceip.py), in the same etcd transaction.
"""

from __future__ import annotations

from typing import Any

from ...machinery.types import Obj
from ..fields import as_dict, as_int, as_list, as_str, child, dicts, fill
from ..info import STATUS, ResourceInfo
from ..kind import Kind
from ..rules import enum, labels, name_errors, port_num_or_name, port_range, protocol
from ..tables import AGE, NAME, Column, Printer, Row, format_labels, or_
from ..validation import (IP_MSG, Cause, GoLiteral, dns1035_label, dns1123_label, dns1123_subdomain,
                          duplicate, forbidden, go_quote, go_string_list, invalid, is_ip, required)

TYPES_WITH_IP = ("ClusterIP", "NodePort", "LoadBalancer")


# --- defaults -------------------------------------------------------------------------------

def _default(obj: Obj) -> None:
    spec = child(obj, "spec")
    if spec is None:
        return
    fill(spec, "type", "ClusterIP")
    fill(spec, "sessionAffinity", "None")
    if spec["sessionAffinity"] == "None":
        spec.pop("sessionAffinityConfig", None)
    elif spec["sessionAffinity"] == "ClientIP":
        config = child(spec, "sessionAffinityConfig")
        client_ip = child(config, "clientIP") if config is not None else None
        if client_ip is not None:
            fill(client_ip, "timeoutSeconds", 10800)
    for port in dicts(spec.get("ports")):
        fill(port, "protocol", "TCP")
        if port.get("targetPort") in (None, 0, "") and port.get("port") is not None:
            port["targetPort"] = port["port"]
    kind = spec["type"]
    if kind in ("NodePort", "LoadBalancer"):
        fill(spec, "externalTrafficPolicy", "Cluster")
    if kind == "LoadBalancer":
        fill(spec, "allocateLoadBalancerNodePorts", True)
    if kind == "ExternalName":
        return
    fill(spec, "internalTrafficPolicy", "Cluster")
    cluster_ip = spec.get("clusterIP")
    if isinstance(cluster_ip, str) and cluster_ip and not spec.get("clusterIPs"):
        spec["clusterIPs"] = [cluster_ip]
    # A single-stack cluster: one family, picked from the address when there is one.
    fill(spec, "ipFamilyPolicy", "SingleStack")
    if not spec.get("ipFamilies"):
        spec["ipFamilies"] = ["IPv6" if isinstance(cluster_ip, str) and ":" in cluster_ip else "IPv4"]


# --- rules ----------------------------------------------------------------------------------

def _cluster_ips(spec: Obj) -> list[str]:
    ips = [as_str(ip) for ip in as_list(spec.get("clusterIPs"))]
    return ips or ([spec["clusterIP"]] if as_str(spec.get("clusterIP")) else [])


def _service_port(port: Obj, p: str, require_name: bool, names: set[str]) -> list[Cause]:
    name = as_str(port.get("name"))
    out: list[Cause] = []
    if require_name and not name:
        out.append(required(f"{p}.name"))
    elif name:
        out += name_errors(f"{p}.name", name, dns1123_label)
        out += [duplicate(f"{p}.name", name)] if name in names else []
        names.add(name)
    out += port_range(f"{p}.port", as_int(port.get("port")))
    out += protocol(f"{p}.protocol", port.get("protocol"))
    target = port.get("targetPort")
    if target not in (None, 0, ""):  # unset target ports default to the port
        out += port_num_or_name(f"{p}.targetPort", target)
    return out


def _rules(obj: Obj) -> list[Cause]:
    spec = as_dict(obj.get("spec"))
    kind = as_str(spec.get("type")) or "ClusterIP"
    ips = _cluster_ips(spec)
    ports = as_list(spec.get("ports"))
    out = enum("spec.type", kind, ["ClusterIP", "ExternalName", "LoadBalancer", "NodePort"])
    if not ports and ips != ["None"] and kind != "ExternalName":
        out.append(required("spec.ports"))
    if kind == "ExternalName":
        cname = as_str(spec.get("externalName")).removesuffix(".")
        out += name_errors("spec.externalName", cname, dns1123_subdomain) if cname else [required("spec.externalName")]
    names: set[str] = set()
    seen: set[tuple[str, Any]] = set()
    for i, port in enumerate(ports):
        port, p = as_dict(port), f"spec.ports[{i}]"
        out += _service_port(port, p, len(ports) > 1, names)
        if kind == "ClusterIP" and as_int(port.get("nodePort")):
            out.append(forbidden(f"{p}.nodePort", "may not be used when `type` is 'ClusterIP'"))
        key = (as_str(port.get("protocol")) or "TCP", as_int(port.get("port")))
        if key in seen:
            out.append(duplicate(p, GoLiteral(
                f'core.ServicePort{{Name:"", Protocol:{go_quote(key[0])}, AppProtocol:(*string)(nil), '
                f'Port:{key[1]}, TargetPort:intstr.IntOrString{{Type:0, IntVal:0, StrVal:""}}, NodePort:0}}')))
        seen.add(key)
    if spec.get("selector") is not None:
        out += labels(spec.get("selector"), "spec.selector")
    out += enum("spec.sessionAffinity", spec.get("sessionAffinity"), ["ClientIP", "None"])
    out += enum("spec.internalTrafficPolicy", spec.get("internalTrafficPolicy"), ["Cluster", "Local"])
    out += enum("spec.externalTrafficPolicy", spec.get("externalTrafficPolicy"), ["Cluster", "Local"])
    if kind != "ExternalName":
        cluster_ip, listed = as_str(spec.get("clusterIP")), [as_str(ip) for ip in as_list(spec.get("clusterIPs"))]
        if cluster_ip and listed and listed[0] != cluster_ip:
            out.append(invalid("spec.clusterIPs", go_string_list(listed), "first value must match `clusterIP`"))
        elif not cluster_ip and listed:
            out.append(invalid("spec.clusterIPs", go_string_list(listed),
                               "must be empty when `clusterIP` is not specified"))
        out += [invalid(f"spec.clusterIPs[{i}]", ip, IP_MSG)
                for i, ip in enumerate(ips) if not (i == 0 and ip == "None") and not is_ip(ip)]
    return out


def _update_rules(new: Obj, old: Obj) -> list[Cause]:
    ns, os_ = as_dict(new.get("spec")), as_dict(old.get("spec"))
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


# --- the table (printService) ---------------------------------------------------------------

def _service_type(r: Row) -> str:
    return r.spec.get("type") or "ClusterIP"


def _cluster_ip(r: Row) -> str:
    ips = r.spec.get("clusterIPs") or []
    return or_(ips[0] if ips else r.spec.get("clusterIP"), "<none>")


def _external_ip(r: Row) -> str:
    external = r.spec.get("externalIPs") or []
    kind = _service_type(r)
    if kind in ("ClusterIP", "NodePort"):
        return ",".join(external) or "<none>"
    if kind == "LoadBalancer":
        ingress = (r.status.get("loadBalancer") or {}).get("ingress") or []
        balancer = sorted({i.get("ip") or i.get("hostname") for i in ingress} - {None, ""})
        return ",".join(balancer + external) or "<pending>"
    if kind == "ExternalName":
        return r.spec.get("externalName", "")
    return "<unknown>"


def _ports(r: Row) -> str:
    def one(p: Obj) -> str:
        node_port = f":{p['nodePort']}" if p.get("nodePort") else ""
        return f"{p.get('port')}{node_port}/{p.get('protocol') or 'TCP'}"
    return ",".join(one(p) for p in r.spec.get("ports") or []) or "<none>"


PRINTER = Printer((
    NAME,
    Column("Type", _service_type, description="type determines how the Service is exposed."),
    Column("Cluster-IP", _cluster_ip, description="clusterIP is the IP address of the service."),
    Column("External-IP", _external_ip,
           description="externalIPs is a list of IP addresses for which nodes in the cluster will also "
                       "accept traffic for this service."),
    Column("Port(s)", _ports, description="The list of ports that are exposed by this service."),
    AGE,
    Column("Selector", lambda r: format_labels(r.spec.get("selector")), priority=1,
           description="Route service traffic to pods with label keys and values matching this selector."),
))


# --- the ClusterIP a Service holds ---------------------------------------------------------------

def wants_ip(obj: Obj) -> bool:
    """Whether a Service gets a ClusterIP: not ExternalName, not headless."""
    spec = obj.get("spec") or {}
    return spec.get("type", "ClusterIP") in TYPES_WITH_IP and spec.get("clusterIP") != "None"


def allocated_ip(obj: Obj) -> str | None:
    """The ClusterIP a stored Service holds an allocation for, if any."""
    ip = (obj.get("spec") or {}).get("clusterIP")
    return ip if wants_ip(obj) and ip else None


def keep_allocated(old: Obj, new: Obj) -> None:
    """On update, a client that left clusterIP out keeps the one it has (kube's
    patchAllocatedValues), so `kubectl apply` of a manifest without it is no change."""
    ip = allocated_ip(old)
    spec = new.get("spec")
    if ip and isinstance(spec, dict) and wants_ip(new) and not spec.get("clusterIP"):
        spec["clusterIP"] = ip
        if not spec.get("clusterIPs"):
            spec["clusterIPs"] = list(old["spec"].get("clusterIPs") or [ip])


# --- the kind -------------------------------------------------------------------------------

class ServiceKind(Kind):
    def prepare_for_create(self, obj: Obj) -> None:
        obj["status"] = {"loadBalancer": {}}

    def prepare_for_update(self, new: Obj, old: Obj) -> None:
        keep_allocated(old, new)


SERVICE = ServiceKind(
    ResourceInfo("", "v1", "services", "Service", "service", True, ("svc",), ("all",),
                 subresources=(STATUS,), has_status=True),
    printer=PRINTER, default=_default, rules=(_rules,), update_rules=(_update_rules,),
    name_check=dns1035_label)
