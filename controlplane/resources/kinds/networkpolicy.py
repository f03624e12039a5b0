"""NetworkPolicies (networking.k8s.io/v1): which traffic pods accept and send.

Stored and served here; enforced by every node's agent (agent/network/netpol.py) from the
policy table the gateway sends (gateway/policies.py). Defaulted and validated as kube's
SetDefaults_NetworkPolicy and ValidateNetworkPolicy.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from ...machinery.types import Obj
from ..fields import as_dict, as_list, dicts, fill
from ..info import ResourceInfo
from ..kind import Kind
from ..rules import enum, name_errors, port_range, protocol, selector_errors
from ..tables import AGE, NAME, Column, Printer, selector
from ..validation import Cause, forbidden, invalid, port_name, required

POLICY_TYPES = ["Ingress", "Egress"]
CIDR_MSG = "must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)"


def _default(obj: Obj) -> None:
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        return
    for direction in ("ingress", "egress"):
        for rule in dicts(spec.get(direction)):
            for port in dicts(rule.get("ports")):
                fill(port, "protocol", "TCP")
    if not as_list(spec.get("policyTypes")):
        spec["policyTypes"] = ["Ingress"] + (["Egress"] if as_list(spec.get("egress")) else [])


def _port(port: Obj, path: str) -> list[Cause]:
    out = protocol(f"{path}.protocol", port.get("protocol"))
    value, end = port.get("port"), port.get("endPort")
    if isinstance(value, int) and not isinstance(value, bool):
        out += port_range(f"{path}.port", value)
    elif isinstance(value, str):
        out += name_errors(f"{path}.port", value, port_name)
    if end is not None:
        if value is None:
            out.append(required(f"{path}.port", "must be specified when endPort is specified"))
        elif isinstance(value, str):
            out.append(invalid(f"{path}.endPort", end, "may not be specified when `port` is non-numeric"))
        elif isinstance(value, int) and isinstance(end, int) and end < value:
            out.append(invalid(f"{path}.endPort", end, "must be greater than or equal to `port`"))
    return out


def _ip_block(block: Obj, path: str) -> list[Cause]:
    cidr = block.get("cidr")
    try:
        net = ipaddress.ip_network(str(cidr), strict=False)
    except ValueError:
        return [invalid(f"{path}.cidr", cidr, CIDR_MSG)]
    out: list[Cause] = []
    for i, ex in enumerate(as_list(block.get("except"))):
        try:
            inner = ipaddress.ip_network(str(ex), strict=False)
        except ValueError:
            out.append(invalid(f"{path}.except[{i}]", ex, CIDR_MSG))
            continue
        if inner.version != net.version or not inner.subnet_of(net) or inner == net:  # type: ignore[arg-type]
            out.append(invalid(f"{path}.except[{i}]", ex, "must be a strict subset of `cidr`"))
    return out


def _peer(peer: Obj, path: str) -> list[Cause]:
    kinds = [k for k in ("podSelector", "namespaceSelector", "ipBlock") if peer.get(k) is not None]
    if not kinds:
        return [required(path, "must specify a peer")]
    if "ipBlock" in kinds and len(kinds) > 1:
        return [forbidden(path, "may not specify more than 1 peer type")]
    out: list[Cause] = []
    for k in ("podSelector", "namespaceSelector"):
        if peer.get(k) is not None:
            out += selector_errors(as_dict(peer[k]), f"{path}.{k}")
    if peer.get("ipBlock") is not None:
        out += _ip_block(as_dict(peer["ipBlock"]), f"{path}.ipBlock")
    return out


def _rules(obj: Obj) -> list[Cause]:
    spec = as_dict(obj.get("spec"))
    out = selector_errors(as_dict(spec.get("podSelector")), "spec.podSelector")
    for direction, key in (("ingress", "from"), ("egress", "to")):
        for i, rule in enumerate(dicts(spec.get(direction))):
            p = f"spec.{direction}[{i}]"
            for j, port in enumerate(dicts(rule.get("ports"))):
                out += _port(port, f"{p}.ports[{j}]")
            for j, peer in enumerate(dicts(rule.get(key))):
                out += _peer(peer, f"{p}.{key}[{j}]")
    types = as_list(spec.get("policyTypes"))
    for i, t in enumerate(types):
        out += enum(f"spec.policyTypes[{i}]", t, POLICY_TYPES)
    if len(types) > 2:
        out.append(invalid("spec.policyTypes", types, "may not specify more than two policyTypes"))
    return out


def _pod_selector(obj: Any) -> str:
    return selector(as_dict(as_dict(obj.get("spec")).get("podSelector")), on_error="<error>", if_empty="<none>")


NETWORK_POLICY = Kind(
    ResourceInfo("networking.k8s.io", "v1", "networkpolicies", "NetworkPolicy", "networkpolicy", True,
                 ("netpol",)),
    printer=Printer((NAME, Column("Pod-Selector", lambda r: _pod_selector(r.obj),
                                  description="podSelector selects the pods to which this NetworkPolicy "
                                              "object applies."), AGE)),
    default=_default, rules=(_rules,))
