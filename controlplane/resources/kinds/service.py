"""Services (v1): defaults, rules, the table, and which Services hold a ClusterIP and node ports.

Defaults from `pkg/apis/core/v1/defaults.go`, rules from ValidateService: ports, selectors,
cluster IPs that never change once set, the fields that only some types may carry (node
ports, health check node port, load balancer class). On update, values the client left out
are kept (kube's patchAllocatedValues) and type-dependent fields a type change made
meaningless are dropped (dropTypeDependentFields). The ClusterIP and node ports themselves
are allocated where the Service is stored (api/servicestorage.py), in the same etcd
transaction.
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
                          duplicate, forbidden, go_quote, go_string_list, invalid, is_ip, qualified_name,
                          required)

TYPES_WITH_IP = ("ClusterIP", "NodePort", "LoadBalancer")
NODE_PORT_TYPES = ("NodePort", "LoadBalancer")


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
    node_ports: set[tuple[str, int]] = set()
    for i, port in enumerate(ports):
        port, p = as_dict(port), f"spec.ports[{i}]"
        out += _service_port(port, p, len(ports) > 1, names)
        node_port = as_int(port.get("nodePort"))
        if kind == "ClusterIP" and node_port:
            out.append(forbidden(f"{p}.nodePort", "may not be used when `type` is 'ClusterIP'"))
        elif node_port:
            out += port_range(f"{p}.nodePort", node_port)
            np_key = (as_str(port.get("protocol")) or "TCP", node_port)
            out += [duplicate(f"{p}.nodePort", node_port)] if np_key in node_ports else []
            node_ports.add(np_key)
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
    out += _type_dependent(spec, kind)
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


def _type_dependent(spec: Obj, kind: str) -> list[Cause]:
    """Fields only some Service types may carry."""
    out: list[Cause] = []
    if kind in NODE_PORT_TYPES and _cluster_ips(spec)[:1] == ["None"]:
        out.append(invalid("spec.clusterIPs[0]", "None", f"may not be set to 'None' for {kind} services"))
    policy = spec.get("externalTrafficPolicy")
    if policy and kind not in NODE_PORT_TYPES and not as_list(spec.get("externalIPs")):
        out.append(invalid("spec.externalTrafficPolicy", policy,
                           "may only be set for externally-accessible services"))
    health = spec.get("healthCheckNodePort")
    if health not in (None, 0):
        if kind != "LoadBalancer" or policy != "Local":
            out.append(invalid("spec.healthCheckNodePort", health, "may only be set when `type` is "
                               "'LoadBalancer' and `externalTrafficPolicy` is 'Local'"))
        else:
            out += port_range("spec.healthCheckNodePort", as_int(health))
    if kind != "LoadBalancer":
        if spec.get("loadBalancerClass") is not None:
            out.append(forbidden("spec.loadBalancerClass", "may only be used when `type` is 'LoadBalancer'"))
        if spec.get("allocateLoadBalancerNodePorts") is not None:
            out.append(forbidden("spec.allocateLoadBalancerNodePorts",
                                 "may only be used when `type` is 'LoadBalancer'"))
    elif spec.get("loadBalancerClass") is not None:
        out += name_errors("spec.loadBalancerClass", as_str(spec["loadBalancerClass"]), qualified_name)
    return out


def _update_rules(new: Obj, old: Obj) -> list[Cause]:
    ns, os_ = as_dict(new.get("spec")), as_dict(old.get("spec"))
    out: list[Cause] = []
    if ns.get("type") == os_.get("type") == "LoadBalancer" and \
            ns.get("loadBalancerClass") != os_.get("loadBalancerClass"):
        out.append(invalid("spec.loadBalancerClass", ns.get("loadBalancerClass"), "may not change once set"))
    return out + _cluster_ip_update(ns, os_)


def _cluster_ip_update(ns: Obj, os_: Obj) -> list[Cause]:
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


# --- what a Service holds: a ClusterIP, node ports -----------------------------------------------

def wants_ip(obj: Obj) -> bool:
    """Whether a Service gets a ClusterIP: not ExternalName, not headless."""
    spec = obj.get("spec") or {}
    return spec.get("type", "ClusterIP") in TYPES_WITH_IP and spec.get("clusterIP") != "None"


def allocated_ip(obj: Obj) -> str | None:
    """The ClusterIP a stored Service holds an allocation for, if any."""
    ip = (obj.get("spec") or {}).get("clusterIP")
    return ip if wants_ip(obj) and ip else None


def needs_node_ports(spec: Obj) -> bool:
    """Every port gets a node port: NodePort, and LoadBalancer unless it opted out."""
    kind = spec.get("type")
    return kind == "NodePort" or (kind == "LoadBalancer" and spec.get("allocateLoadBalancerNodePorts") is not False)


def needs_health_check_port(spec: Obj) -> bool:
    """kube-proxy answers health checks for external load balancers of Local-policy Services."""
    return spec.get("type") == "LoadBalancer" and spec.get("externalTrafficPolicy") == "Local"


def node_port_fields(obj: Obj) -> list[tuple[str, Obj, str]]:
    """(field path, the dict holding it, key) of every node port the Service may hold: each
    port's nodePort (NodePort and LoadBalancer types), and healthCheckNodePort when needed."""
    spec = obj.get("spec") or {}
    if spec.get("type") not in NODE_PORT_TYPES:
        return []
    out = [(f"spec.ports[{i}].nodePort", p, "nodePort") for i, p in enumerate(dicts(spec.get("ports")))]
    if needs_health_check_port(spec):
        out.append(("spec.healthCheckNodePort", spec, "healthCheckNodePort"))
    return out


def missing_node_ports(obj: Obj) -> list[tuple[str, Obj, str]]:
    """The node port fields a Service needs and has no value in (to allocate)."""
    spec = obj.get("spec") or {}
    return [(path, holder, key) for path, holder, key in node_port_fields(obj)
            if not as_int(holder.get(key)) and (key == "healthCheckNodePort" or needs_node_ports(spec))]


def allocated_node_ports(obj: Obj) -> dict[int, str]:
    """Node port -> the first field holding it, for every node port a stored Service holds."""
    out: dict[int, str] = {}
    for path, holder, key in node_port_fields(obj):
        port = as_int(holder.get(key))
        if port:
            out.setdefault(port, path)
    return out


def keep_allocated(old: Obj, new: Obj) -> None:
    """On update, a client that left clusterIP or node ports out keeps the ones it has (kube's
    patchAllocatedValues), so `kubectl apply` of a manifest without them is no change."""
    ip = allocated_ip(old)
    spec, old_spec = new.get("spec"), old.get("spec") or {}
    if not isinstance(spec, dict):
        return
    if ip and wants_ip(new) and not spec.get("clusterIP"):
        spec["clusterIP"] = ip
        if not spec.get("clusterIPs"):
            spec["clusterIPs"] = list(old_spec.get("clusterIPs") or [ip])
    if needs_node_ports(old_spec) and needs_node_ports(spec):
        by_name = {as_str(p.get("name")): as_int(p.get("nodePort")) for p in dicts(old_spec.get("ports"))}
        used = {as_int(p.get("nodePort")) for p in dicts(spec.get("ports"))} - {None, 0}
        for p in dicts(spec.get("ports")):
            kept = by_name.get(as_str(p.get("name")))
            if not as_int(p.get("nodePort")) and kept and kept not in used:
                p["nodePort"] = kept
                used.add(kept)
    if needs_health_check_port(old_spec) and needs_health_check_port(spec) and \
            not as_int(spec.get("healthCheckNodePort")):
        spec["healthCheckNodePort"] = old_spec.get("healthCheckNodePort")


def drop_type_dependent(old: Obj, new: Obj) -> None:
    """A type change drops what only the old type used, when the client left it as it was (kube's
    dropTypeDependentFields): `kubectl apply` of `type: ClusterIP` over a NodePort Service
    must not fail on the nodePorts the server allocated."""
    spec, old_spec = new.get("spec"), old.get("spec") or {}
    if not isinstance(spec, dict):
        return
    ports, old_ports = dicts(spec.get("ports")), dicts(old_spec.get("ports"))
    if needs_node_ports(old_spec) and not needs_node_ports(spec) and \
            [p.get("nodePort") for p in ports] == [p.get("nodePort") for p in old_ports][:len(ports)]:
        for p in ports:
            p.pop("nodePort", None)
    for key, still in (("healthCheckNodePort", needs_health_check_port(spec)),
                       ("loadBalancerClass", spec.get("type") == "LoadBalancer"),
                       ("allocateLoadBalancerNodePorts", spec.get("type") == "LoadBalancer"),
                       ("externalTrafficPolicy", spec.get("type") in NODE_PORT_TYPES
                        or bool(spec.get("externalIPs")))):
        if not still and key in spec and spec.get(key) == old_spec.get(key):
            del spec[key]


# --- the kind -------------------------------------------------------------------------------

class ServiceKind(Kind):
    def prepare_for_create(self, obj: Obj) -> None:
        obj["status"] = {"loadBalancer": {}}

    def prepare_for_update(self, new: Obj, old: Obj) -> None:
        keep_allocated(old, new)
        drop_type_dependent(old, new)
        spec = new.get("spec")
        if isinstance(spec, dict) and spec.get("type") != "LoadBalancer" and isinstance(new.get("status"), dict):
            new["status"]["loadBalancer"] = {}  # no balancer serves it any more


SERVICE = ServiceKind(
    ResourceInfo("", "v1", "services", "Service", "service", True, ("svc",), ("all",),
                 subresources=(STATUS,), has_status=True),
    printer=PRINTER, default=_default, rules=(_rules,), update_rules=(_update_rules,),
    name_check=dns1035_label)
