"""The blocks pod-like describers share: containers, volumes, pod templates, QoS class."""

from __future__ import annotations

from typing import Any

from .. import humanize, quantity
from . import Writer, annotations_multiline, labels_multiline, tolerations_multiline


def _ports(ports: list[dict[str, Any]], field: str) -> str:
    return ", ".join(f"{p.get(field, 0)}/{p.get('protocol', 'TCP')}" for p in ports)


def _probe(probe: dict[str, Any]) -> str:
    attrs = (f"delay={probe.get('initialDelaySeconds', 0)}s timeout={probe.get('timeoutSeconds', 1)}s "
             f"period={probe.get('periodSeconds', 10)}s successThreshold={probe.get('successThreshold', 1)} "
             f"failureThreshold={probe.get('failureThreshold', 3)}")
    if "exec" in probe:
        return f"exec [{' '.join((probe['exec'] or {}).get('command') or [])}] {attrs}"
    if "httpGet" in probe:
        g = probe["httpGet"] or {}
        scheme = str(g.get("scheme", "HTTP")).lower()
        host, port = g.get("host", ""), g.get("port", "")
        where = f"{host}:{port}" if port != "" else host
        return f"http-get {scheme}://{where}{g.get('path', '')} {attrs}"
    if "tcpSocket" in probe:
        t = probe["tcpSocket"] or {}
        return f"tcp-socket {t.get('host', '')}:{t.get('port', '')} {attrs}"
    if "grpc" in probe:
        g = probe["grpc"] or {}
        return f"grpc <pod>:{g.get('port', '')} {g.get('service', '')} {attrs}"
    return f"unknown {attrs}"


def _state(w: Writer, title: str, state: dict[str, Any]) -> None:
    if "running" in state:
        w.write(2, f"{title}:\tRunning\n")
        w.write(3, f"Started:\t{humanize.rfc1123z((state['running'] or {}).get('startedAt'))}\n")
    elif "terminated" in state:
        t = state["terminated"] or {}
        w.write(2, f"{title}:\tTerminated\n")
        if t.get("reason"):
            w.write(3, f"Reason:\t{t['reason']}\n")
        if t.get("message"):
            w.write(3, f"Message:\t{t['message']}\n")
        w.write(3, f"Exit Code:\t{t.get('exitCode', 0)}\n")
        if t.get("signal"):
            w.write(3, f"Signal:\t{t['signal']}\n")
        w.write(3, f"Started:\t{humanize.rfc1123z(t.get('startedAt'))}\n")
        w.write(3, f"Finished:\t{humanize.rfc1123z(t.get('finishedAt'))}\n")
    else:
        w.write(2, f"{title}:\tWaiting\n")
        reason = (state.get("waiting") or {}).get("reason")
        if reason:
            w.write(3, f"Reason:\t{reason}\n")


def _resources(w: Writer, resources: dict[str, Any] | None, level: int) -> None:
    for title, key in (("Limits", "limits"), ("Requests", "requests")):
        values = (resources or {}).get(key) or {}
        if values:
            w.write(level, f"{title}:\n")
        for name in sorted(values):
            w.write(level + 1, f"{name}:\t{quantity.canonical(values[name])}\n")


def _field(pod: dict[str, Any] | None, path: str) -> str:
    """The value a downward-API fieldRef gives (`status.podIP`, `metadata.labels['app']`)."""
    if pod is None:
        return ""
    value: Any = pod
    for part in path.replace("['", ".").replace("']", "").split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return "" if value is None or isinstance(value, (dict, list)) else str(value)


def _env(w: Writer, container: dict[str, Any], pod: dict[str, Any] | None) -> None:
    env_from = container.get("envFrom") or []
    if env_from:
        w.write(2, "Environment Variables from:\n")
        for e in env_from:
            ref, what = (e.get("configMapRef"), "ConfigMap") if e.get("configMapRef") else \
                (e.get("secretRef") or {}, "Secret")
            optional = "true" if (ref or {}).get("optional") else "false"
            prefix = f" with prefix '{e['prefix']}'" if e.get("prefix") else ""
            w.write(3, f"{(ref or {}).get('name', '')}\t{what}{prefix}\tOptional: {optional}\n")
    env = container.get("env") or []
    w.write(2, "Environment:" + ("\t<none>" if not env else "") + "\n")
    for e in env:
        source = e.get("valueFrom")
        if not source:
            for i, part in enumerate(str(e.get("value", "")).split("\n")):
                w.write(3, f"{e.get('name', '')}:\t{part}\n" if i == 0 else f"\t{part}\n")
        elif "fieldRef" in source:
            ref = source["fieldRef"] or {}
            w.write(3, f"{e.get('name', '')}:\t{_field(pod, ref.get('fieldPath', ''))} "
                       f"({ref.get('apiVersion', 'v1')}:{ref.get('fieldPath', '')})\n")
        elif "resourceFieldRef" in source:
            w.write(3, f"{e.get('name', '')}:\t ({(source['resourceFieldRef'] or {}).get('resource', '')})\n")
        else:
            kind, ref = ("secret", source.get("secretKeyRef")) if "secretKeyRef" in source else \
                ("config map", source.get("configMapKeyRef"))
            ref = ref or {}
            optional = "true" if ref.get("optional") else "false"
            of = "in" if kind == "secret" else "of"
            w.write(3, f"{e.get('name', '')}:\t<set to the key '{ref.get('key', '')}' {of} {kind} "
                       f"'{ref.get('name', '')}'>\tOptional: {optional}\n")


def containers(w: Writer, label: str, items: list[dict[str, Any]],
               statuses: list[dict[str, Any]] | None, space: str = "",
               pod: dict[str, Any] | None = None) -> None:
    by_name = {s.get("name"): s for s in statuses or []}
    w.write(0, f"{space}{label}:{' <none>' if not items else ''}\n")
    indent = " " if space else ""
    for c in items:
        status = by_name.get(c.get("name"))
        w.write(1, f"{indent}{c.get('name', '')}:\n")
        if status is not None:
            w.write(2, f"Container ID:\t{status.get('containerID', '')}\n")
        w.write(2, f"Image:\t{c.get('image', '')}\n")
        if status is not None:
            w.write(2, f"Image ID:\t{status.get('imageID', '')}\n")
        ports = c.get("ports") or []
        text = _ports(ports, "containerPort")
        w.write(2, f"Ports:\t{text}\n" if "," in text else f"Port:\t{text or '<none>'}\n")
        host = _ports(ports, "hostPort")
        w.write(2, f"Host Ports:\t{host}\n" if "," in host else f"Host Port:\t{host or '<none>'}\n")
        for title, key in (("Command", "command"), ("Args", "args")):
            if c.get(key):
                w.write(2, f"{title}:\n")
                for arg in c[key]:
                    for part in str(arg).split("\n"):
                        w.write(3, f"{part}\n")
        if status is not None:
            _state(w, "State", status.get("state") or {})
            if (status.get("lastState") or {}).get("terminated"):
                _state(w, "Last State", status["lastState"])
            w.write(2, f"Ready:\t{'True' if status.get('ready') else 'False'}\n")
            w.write(2, f"Restart Count:\t{status.get('restartCount', 0)}\n")
        _resources(w, c.get("resources"), 2)
        for title, key in (("Liveness", "livenessProbe"), ("Readiness", "readinessProbe"),
                           ("Startup", "startupProbe")):
            if c.get(key):
                w.write(2, f"{title}:\t{_probe(c[key])}\n")
        _env(w, c, pod)
        mounts = sorted(c.get("volumeMounts") or [], key=lambda m: m.get("mountPath", ""))
        w.write(2, "Mounts:" + ("\t<none>" if not mounts else "") + "\n")
        for m in mounts:
            flags = ["ro" if m.get("readOnly") else "rw"]
            if m.get("subPath"):
                flags.append(f'path="{m["subPath"]}"')
            w.write(3, f"{m.get('mountPath', '')} from {m.get('name', '')} ({','.join(flags)})\n")


_VOLUMES = {
    "emptyDir": lambda v: ("EmptyDir (a temporary directory that shares a pod's lifetime)",
                           [("Medium", v.get("medium", "")), ("SizeLimit", v.get("sizeLimit", "<unset>"))]),
    "hostPath": lambda v: ("HostPath (bare host directory volume)",
                           [("Path", v.get("path", "")), ("HostPathType", v.get("type") or "<none>")]),
    "configMap": lambda v: ("ConfigMap (a volume populated by a ConfigMap)",
                            [("Name", v.get("name", "")), ("Optional", "true" if v.get("optional") else "false")]),
    "secret": lambda v: ("Secret (a volume populated by a Secret)",
                         [("SecretName", v.get("secretName", "")),
                          ("Optional", "true" if v.get("optional") else "false")]),
    "persistentVolumeClaim": lambda v: (
        "PersistentVolumeClaim (a reference to a PersistentVolumeClaim in the same namespace)",
        [("ClaimName", v.get("claimName", "")), ("ReadOnly", "true" if v.get("readOnly") else "false")]),
}


def volumes(w: Writer, items: list[dict[str, Any]] | None, space: str = "") -> None:
    if not items:
        w.write(0, f"{space}Volumes:\t<none>\n")
        return
    w.write(0, f"{space}Volumes:\n")
    for v in items:
        w.write(1, f"{' ' if space else ''}{v.get('name', '')}:\n")
        source = next((k for k in _VOLUMES if k in v), None)
        if source is None:
            w.write(1, "<unknown>\n")
            continue
        title, fields = _VOLUMES[source](v[source] or {})
        w.write(2, f"Type:\t{title}\n")
        for name, value in fields:
            w.write(0, f"    {name}:\t{value}\n")


def pod_template(w: Writer, template: dict[str, Any] | None) -> None:
    w.write(0, "Pod Template:\n")
    if template is None:
        w.write(1, "<unset>\n")
        return
    meta, spec = template.get("metadata") or {}, template.get("spec") or {}
    labels_multiline(w, "  Labels", meta.get("labels"))
    if meta.get("annotations"):
        annotations_multiline(w, "  Annotations", meta["annotations"])
    if spec.get("serviceAccountName"):
        w.write(1, f"Service Account:\t{spec['serviceAccountName']}\n")
    if spec.get("initContainers"):
        containers(w, "Init Containers", spec["initContainers"], None, "  ")
    containers(w, "Containers", spec.get("containers") or [], None, "  ")
    volumes(w, spec.get("volumes"), "  ")
    if spec.get("priorityClassName"):
        w.write(1, f"Priority Class Name:\t{spec['priorityClassName']}\n")
    labels_multiline(w, "  Node-Selectors", spec.get("nodeSelector"))
    tolerations_multiline(w, "Tolerations", spec.get("tolerations"), "  ")


def qos_class(spec: dict[str, Any]) -> str:
    requests: dict[str, list[Any]] = {}
    limits: dict[str, list[Any]] = {}
    for c in (spec.get("containers") or []) + (spec.get("initContainers") or []):
        res = c.get("resources") or {}
        for name in ("cpu", "memory"):
            if name in (res.get("requests") or {}):
                requests.setdefault(name, []).append(res["requests"][name])
            if name in (res.get("limits") or {}):
                limits.setdefault(name, []).append(res["limits"][name])
    if not requests and not limits:
        return "BestEffort"
    every = spec.get("containers") or []
    guaranteed = all(
        all(n in ((c.get("resources") or {}).get("limits") or {}) for n in ("cpu", "memory"))
        and all(quantity.canonical(((c.get("resources") or {}).get("requests") or {}).get(n, lim))
                == quantity.canonical(lim)
                for n, lim in ((c.get("resources") or {}).get("limits") or {}).items() if n in ("cpu", "memory"))
        for c in every)
    return "Guaranteed" if guaranteed and every else "Burstable"
