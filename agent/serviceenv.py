"""Service environment variables (the kubelet's pkg/kubelet/envvars), from the ServiceTable.

For every Service with a ClusterIP in the pod's namespace, known when the container starts:
`{NAME}_SERVICE_HOST`, `{NAME}_SERVICE_PORT`, `{NAME}_SERVICE_PORT_{PORTNAME}` and the Docker
link style `{NAME}_PORT`, `{NAME}_PORT_{port}_{PROTO}[_PROTO|_PORT|_ADDR]`. A pod with
`enableServiceLinks: false` gets none of them, but every pod in every namespace gets those of
the API server's `default/kubernetes` Service (KUBERNETES_SERVICE_HOST/PORT, ...): in-cluster
clients find the API by them.
"""

from __future__ import annotations

from typing import Any

from pyctl_proto import node_pb2 as pb


def _env_name(name: str) -> str:
    return name.upper().replace("-", "_")


def service_env(table: pb.ServiceTable | None, pod: dict[str, Any]) -> dict[str, str]:
    spec = pod.get("spec") or {}
    if table is None:
        return {}
    links = spec.get("enableServiceLinks") is not False
    namespace = (pod.get("metadata") or {}).get("namespace") or "default"
    env: dict[str, str] = {}
    for svc in table.services:
        master = svc.namespace == "default" and svc.name == "kubernetes"
        if not (master or links and svc.namespace == namespace) or svc.cluster_ip in ("", "None") or not svc.ports:
            continue
        name, ip = _env_name(svc.name), svc.cluster_ip
        env[f"{name}_SERVICE_HOST"] = ip
        env[f"{name}_SERVICE_PORT"] = str(svc.ports[0].port)
        for p in svc.ports:
            if p.name:
                env[f"{name}_SERVICE_PORT_{_env_name(p.name)}"] = str(p.port)
        first = svc.ports[0]
        env[f"{name}_PORT"] = f"{first.protocol.lower()}://{ip}:{first.port}"
        for p in svc.ports:
            proto = p.protocol or "TCP"
            prefix = f"{name}_PORT_{p.port}_{proto.upper()}"
            env[prefix] = f"{proto.lower()}://{ip}:{p.port}"
            env[prefix + "_PROTO"] = proto.lower()
            env[prefix + "_PORT"] = str(p.port)
            env[prefix + "_ADDR"] = ip
    return env
