"""Describers for Service, Endpoints, EndpointSlice, Ingress and IngressClass."""

from __future__ import annotations

from typing import Any

from .. import humanize
from ..errors import PyctlError
from . import (Context, Writer, annotations_multiline, describer, events_section, labels_multiline, meta_of,
               object_header)


def _endpoints(slices: list[dict[str, Any]], port_name: str) -> str:
    """`10.0.0.2:8080,10.0.0.3:8080 + 2 more...`, ready endpoints only."""
    found: list[str] = []
    for eps in slices:
        ports = eps.get("ports") or []
        endpoints = [e for e in eps.get("endpoints") or []
                     if (e.get("conditions") or {}).get("ready") is not False and e.get("addresses")]
        if not ports:
            found.extend(e["addresses"][0] for e in endpoints)
            continue
        for port in ports:
            if (port.get("name") or "") == port_name:
                found.extend(f"{e['addresses'][0]}:{port.get('port', '')}" for e in endpoints)
    if not found:
        return "<none>"
    shown = ",".join(found[:3])
    return f"{shown} + {len(found) - 3} more..." if len(found) > 3 else shown


@describer("", "Service")
def service(ctx: Context, obj: dict[str, Any]) -> str:
    w = Writer()
    meta, spec, status = meta_of(obj), obj.get("spec") or {}, obj.get("status") or {}
    try:
        slices = ctx.get(f"/apis/discovery.k8s.io/v1/namespaces/{meta.get('namespace', '')}/endpointslices",
                         {"labelSelector": f"kubernetes.io/service-name={meta.get('name', '')}"}
                         ).get("items") or []
    except PyctlError:
        slices = []
    object_header(w, meta)
    w.write(0, f"Selector:\t{humanize.format_labels(spec.get('selector'))}\n")
    w.write(0, f"Type:\t{spec.get('type', '')}\n")
    if spec.get("ipFamilyPolicy"):
        w.write(0, f"IP Family Policy:\t{spec['ipFamilyPolicy']}\n")
    w.write(0, f"IP Families:\t{','.join(spec.get('ipFamilies') or []) or '<none>'}\n")
    w.write(0, f"IP:\t{spec.get('clusterIP', '')}\n")
    w.write(0, f"IPs:\t{','.join(spec.get('clusterIPs') or []) or '<none>'}\n")
    if spec.get("externalIPs"):
        w.write(0, f"External IPs:\t{','.join(spec['externalIPs'])}\n")
    if spec.get("externalName"):
        w.write(0, f"External Name:\t{spec['externalName']}\n")
    ingress = (status.get("loadBalancer") or {}).get("ingress") or []
    if ingress:
        w.write(0, "LoadBalancer Ingress:\t"
                   + ", ".join(i.get("ip") or i.get("hostname", "") for i in ingress) + "\n")
    for port in spec.get("ports") or []:
        name = port.get("name") or "<unset>"
        proto = port.get("protocol", "TCP")
        w.write(0, f"Port:\t{name}\t{port.get('port', '')}/{proto}\n")
        w.write(0, f"TargetPort:\t{port.get('targetPort', port.get('port', ''))}/{proto}\n")
        if port.get("nodePort"):
            w.write(0, f"NodePort:\t{name}\t{port['nodePort']}/{proto}\n")
        w.write(0, f"Endpoints:\t{_endpoints(slices, port.get('name') or '')}\n")
    w.write(0, f"Session Affinity:\t{spec.get('sessionAffinity', '')}\n")
    if spec.get("externalTrafficPolicy"):
        w.write(0, f"External Traffic Policy:\t{spec['externalTrafficPolicy']}\n")
    if spec.get("healthCheckNodePort"):
        w.write(0, f"HealthCheck NodePort:\t{spec['healthCheckNodePort']}\n")
    if spec.get("loadBalancerClass"):
        w.write(0, f"LoadBalancer Class:\t{spec['loadBalancerClass']}\n")
    if spec.get("internalTrafficPolicy"):
        w.write(0, f"Internal Traffic Policy:\t{spec['internalTrafficPolicy']}\n")
    events_section(w, ctx.events(obj))
    return w.text()


def _header(w: Writer, obj: dict[str, Any]) -> None:
    meta = meta_of(obj)
    object_header(w, meta)


@describer("", "Endpoints")
def endpoints(ctx: Context, obj: dict[str, Any]) -> str:
    w = Writer()
    _header(w, obj)
    w.write(0, "Subsets:\n")
    for subset in obj.get("subsets") or []:
        ready = ",".join(a.get("ip", "") for a in subset.get("addresses") or [])
        not_ready = ",".join(a.get("ip", "") for a in subset.get("notReadyAddresses") or [])
        w.write(1, f"Addresses:\t{ready or '<none>'}\n")
        w.write(1, f"NotReadyAddresses:\t{not_ready or '<none>'}\n")
        if subset.get("ports"):
            w.write(1, "Ports:\n")
            w.write(2, "Name\tPort\tProtocol\n")
            w.write(2, "----\t----\t--------\n")
            for port in subset["ports"]:
                w.write(2, f"{port.get('name') or '<unset>'}\t{port.get('port', '')}\t"
                           f"{port.get('protocol', 'TCP')}\n")
        w.write(0, "\n")
    events_section(w, ctx.events(obj))
    return w.text()


@describer("discovery.k8s.io", "EndpointSlice")
def endpointslice(ctx: Context, obj: dict[str, Any]) -> str:
    w = Writer()
    _header(w, obj)
    w.write(0, f"AddressType:\t{obj.get('addressType', '')}\n")
    ports = obj.get("ports") or []
    if not ports:
        w.write(0, "Ports: <unset>\n")
    else:
        w.write(0, "Ports:\n")
        w.write(1, "Name\tPort\tProtocol\n")
        w.write(1, "----\t----\t--------\n")
        for port in ports:
            number = port.get("port")
            w.write(1, f"{port.get('name') or '<unset>'}\t{'<unset>' if number is None else number}\t"
                       f"{port.get('protocol', 'TCP')}\n")
    items = obj.get("endpoints") or []
    if not items:
        w.write(0, "Endpoints: <none>\n")
    else:
        w.write(0, "Endpoints:\n")
    for e in items:
        w.write(1, f"- Addresses:\t{', '.join(e.get('addresses') or []) or '<none>'}\n")
        w.write(2, "Conditions:\n")
        ready = (e.get("conditions") or {}).get("ready")
        w.write(3, f"Ready:\t{'<unset>' if ready is None else str(ready).lower()}\n")
        w.write(2, f"Hostname:\t{e.get('hostname', '<unset>')}\n")
        ref = e.get("targetRef")
        if ref:
            w.write(2, f"TargetRef:\t{ref.get('kind', '')}/{ref.get('name', '')}\n")
        w.write(2, f"NodeName:\t{e.get('nodeName', '<unset>')}\n")
        w.write(2, f"Zone:\t{e.get('zone', '<unset>')}\n")
    events_section(w, ctx.events(obj))
    return w.text()


# -- Ingress ------------------------------------------------------------------------------------

def _service_endpoints(ctx: Context, namespace: str, service: dict[str, Any]) -> str:
    """`10.0.0.2:8080,10.0.0.3:8080` for an Ingress backend's Service port, ready endpoints only,
    or why there are none (kubectl's wording)."""
    name, port = service.get("name", ""), service.get("port") or {}
    try:
        svc = ctx.get(f"/api/v1/namespaces/{namespace}/services/{name}")
    except PyctlError:
        return f'<error: services "{name}" not found>'
    wanted = next((p for p in (svc.get("spec") or {}).get("ports") or []
                   if (port.get("number") and p.get("port") == port.get("number"))
                   or (port.get("name") and p.get("name") == port.get("name"))), None)
    if wanted is None:
        return "<none>"
    try:
        eps = ctx.get(f"/api/v1/namespaces/{namespace}/endpoints/{name}")
    except PyctlError:
        return f'<error: endpoints "{name}" not found>'
    found = [f"{a.get('ip', '')}:{p.get('port', '')}" for s in eps.get("subsets") or []
             for p in s.get("ports") or [] if (p.get("name") or "") == (wanted.get("name") or "")
             for a in s.get("addresses") or []]
    return ",".join(found) or "<none>"


def _backend(ctx: Context, namespace: str, backend: dict[str, Any]) -> str:
    service = backend.get("service")
    if service:
        port = service.get("port") or {}
        shown = port.get("name") or port.get("number", "")
        return f"{service.get('name', '')}:{shown} ({_service_endpoints(ctx, namespace, service)})"
    res = backend.get("resource") or {}
    group = f"{res['apiGroup']}/" if res.get("apiGroup") else ""
    return f"APIGroup: {group}, Kind: {res.get('kind', '')}, Name: {res.get('name', '')}"


@describer("networking.k8s.io", "Ingress")
def ingress(ctx: Context, obj: dict[str, Any]) -> str:
    w = Writer()
    meta, spec, status = meta_of(obj), obj.get("spec") or {}, obj.get("status") or {}
    ns = meta.get("namespace", "")
    w.write(0, f"Name:\t{meta.get('name', '')}\n")
    labels_multiline(w, "Labels", meta.get("labels"))
    w.write(0, f"Namespace:\t{ns}\n")
    addresses = [i.get("ip") or i.get("hostname", "") for i in (status.get("loadBalancer") or {}).get("ingress") or []]
    w.write(0, f"Address:\t{','.join(addresses)}\n")
    w.write(0, f"Ingress Class:\t{spec.get('ingressClassName') or '<none>'}\n")
    default = spec.get("defaultBackend")
    w.write(0, f"Default backend:\t{_backend(ctx, ns, default) if default else '<default>'}\n")
    if spec.get("tls"):
        w.write(0, "TLS:\n")
        for t in spec["tls"]:
            hosts = ",".join(t.get("hosts") or [])
            w.write(1, f"{t.get('secretName') or 'SNI routes'} terminates {hosts}\n")
    w.write(0, "Rules:\n")
    w.write(1, "Host\tPath\tBackends\n")
    w.write(1, "----\t----\t--------\n")
    rules = spec.get("rules") or []
    for rule in rules:
        w.write(1, f"{rule.get('host') or '*'}\t\n")
        http = rule.get("http")
        if not http:
            w.write(2, f"\t{_backend(ctx, ns, default) if default else '<default>'}\n")
            continue
        for p in http.get("paths") or []:
            w.write(2, f"{p.get('path', '')}\t{_backend(ctx, ns, p.get('backend') or {})}\n")
    if not rules and default:
        w.write(1, f"*\t*\t{_backend(ctx, ns, default)}\n")
    annotations_multiline(w, "Annotations", meta.get("annotations"))
    events_section(w, ctx.events(obj))
    return w.text()


@describer("networking.k8s.io", "IngressClass")
def ingress_class(ctx: Context, obj: dict[str, Any]) -> str:
    w = Writer()
    meta, spec = meta_of(obj), obj.get("spec") or {}
    w.write(0, f"Name:\t{meta.get('name', '')}\n")
    labels_multiline(w, "Labels", meta.get("labels"))
    annotations_multiline(w, "Annotations", meta.get("annotations"))
    w.write(0, f"Controller:\t{spec.get('controller', '')}\n")
    params = spec.get("parameters")
    if params:
        w.write(0, "Parameters:\n")
        for key in ("apiGroup", "kind", "name", "namespace", "scope"):
            if params.get(key):
                w.write(1, f"{key[0].upper() + key[1:]}:\t{params[key]}\n")
    events_section(w, ctx.events(obj))
    return w.text()
