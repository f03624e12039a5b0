"""Endpoints (v1) and EndpointSlices (discovery.k8s.io/v1): what a Service's pods answer on.

Written by the endpoints controller; validated as ValidateEndpoints / ValidateEndpointSlice.
"""

from __future__ import annotations

from typing import Any

from ...machinery.types import Obj
from ..fields import as_dict, as_int, as_list, as_str, dicts, fill
from ..info import ResourceInfo
from ..kind import Kind
from ..rules import enum, name_errors, port_range, protocol
from ..tables import AGE, NAME, Column, Printer, Row
from ..validation import IP_MSG, Cause, dns1123_label, dns1123_subdomain, invalid, is_ip, required


# --- defaults -------------------------------------------------------------------------------

def _default_endpoints(obj: Obj) -> None:
    for subset in dicts(obj.get("subsets")):
        for port in dicts(subset.get("ports")):
            fill(port, "protocol", "TCP")


def _default_slice(obj: Obj) -> None:
    for port in dicts(obj.get("ports")):
        if port.get("name") is None:
            port["name"] = ""
        fill(port, "protocol", "TCP")


# --- rules ----------------------------------------------------------------------------------

def _endpoint_ports(ports: list[Any], path: str, require_name: bool) -> list[Cause]:
    out: list[Cause] = []
    for i, port in enumerate(ports):
        port, p = as_dict(port), f"{path}[{i}]"
        name = as_str(port.get("name"))
        if require_name and not name:
            out.append(required(f"{p}.name"))
        elif name:
            out += name_errors(f"{p}.name", name, dns1123_label)
        if "port" in port:
            out += port_range(f"{p}.port", as_int(port.get("port")))
        out += protocol(f"{p}.protocol", port.get("protocol"))
    return out


def _endpoints_rules(obj: Obj) -> list[Cause]:
    out: list[Cause] = []
    for i, subset in enumerate(as_list(obj.get("subsets"))):
        subset, p = as_dict(subset), f"subsets[{i}]"
        if not as_list(subset.get("addresses")) and not as_list(subset.get("notReadyAddresses")):
            out.append(required(p, "must specify `addresses` or `notReadyAddresses`"))
        for key in ("addresses", "notReadyAddresses"):
            for j, addr in enumerate(as_list(subset.get(key))):
                addr, ap = as_dict(addr), f"{p}.{key}[{j}]"
                if isinstance(addr.get("ip"), str) and not is_ip(addr["ip"]):  # absent: schema says Required
                    out.append(invalid(f"{ap}.ip", addr["ip"], IP_MSG))
                if as_str(addr.get("hostname")):
                    out += name_errors(f"{ap}.hostname", addr["hostname"], dns1123_label)
                if as_str(addr.get("nodeName")):
                    out += name_errors(f"{ap}.nodeName", addr["nodeName"], dns1123_subdomain)
        ports = as_list(subset.get("ports"))
        out += _endpoint_ports(ports, f"{p}.ports", len(ports) > 1)
    return out


def _slice_rules(obj: Obj) -> list[Cause]:
    out = enum("addressType", obj.get("addressType"), ["FQDN", "IPv4", "IPv6"])
    for i, ep in enumerate(as_list(obj.get("endpoints"))):
        if not as_list(as_dict(ep).get("addresses")):
            out.append(required(f"endpoints[{i}].addresses", "must contain at least 1 address"))
    return out + _endpoint_ports(as_list(obj.get("ports")), "ports", False)


def _slice_update_rules(new: Obj, old: Obj) -> list[Cause]:
    if new.get("addressType") != old.get("addressType"):
        return [invalid("addressType", new.get("addressType"), "field is immutable")]
    return []


# --- the tables -----------------------------------------------------------------------------

def _host_port(ip: str, port: Any) -> str:
    return f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"


def _endpoints_cell(r: Row, limit: int = 3) -> str:
    subsets = r.obj.get("subsets") or []
    if not subsets:
        return "<none>"
    shown: list[str] = []
    count = 0
    for subset in subsets:
        ips = [a.get("ip", "") for a in subset.get("addresses") or []]
        # A headless service may have no ports: list bare IPs then.
        for port in subset.get("ports") or [None]:
            count += len(ips)
            for ip in ips:
                if len(shown) < limit:
                    shown.append(ip if port is None else _host_port(ip, port.get("port")))
    more = f" + {count - limit} more..." if count > limit else ""
    return ",".join(shown) + more


def _limited(items: list[str], limit: int = 3) -> str:
    if len(items) > limit:
        return ",".join(items[:limit]) + f" + {len(items) - limit} more..."
    return ",".join(items) or "<unset>"


def _slice_ports(r: Row) -> str:
    return _limited([str(p["port"]) if p.get("port") is not None else p.get("name") or "*"
                     for p in r.obj.get("ports") or []])


def _slice_endpoints(r: Row) -> str:
    return _limited([a for e in r.obj.get("endpoints") or [] for a in e.get("addresses") or []])


ENDPOINTS_PRINTER = Printer((
    NAME,
    Column("Endpoints", _endpoints_cell, description="The set of all endpoints is the union of all subsets."),
    AGE,
))

SLICE_PRINTER = Printer((
    NAME,
    Column("AddressType", lambda r: r.obj.get("addressType", ""),
           description="addressType specifies the type of address carried by this EndpointSlice."),
    Column("Ports", _slice_ports, description="ports specifies the list of network ports exposed."),
    Column("Endpoints", _slice_endpoints, description="endpoints is a list of unique endpoints in this slice."),
    AGE,
))

ENDPOINTS = Kind(ResourceInfo("", "v1", "endpoints", "Endpoints", "endpoints", True, ("ep",)),
                 printer=ENDPOINTS_PRINTER, default=_default_endpoints, rules=(_endpoints_rules,))

ENDPOINT_SLICE = Kind(
    ResourceInfo("discovery.k8s.io", "v1", "endpointslices", "EndpointSlice", "endpointslice", True),
    printer=SLICE_PRINTER, default=_default_slice, rules=(_slice_rules,),
    update_rules=(_slice_update_rules,))
