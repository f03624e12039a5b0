"""The Secrets and ConfigMaps the gateway delivers with each pod, under the node authorizer rule.

Kubernetes' node authorizer lets a kubelet read a Secret or ConfigMap only when a pod bound
to its node references it. The gateway applies the same rule by construction: referenced
objects travel only inside that node's `PodAssignment`s (`config_objects`), never on their
own. One informer per kind for the whole gateway; when an object changes, every pod that
references it is offered again to its node's stream, so secret and configMap volumes update
like the kubelet's (within the informer's latency) under the snapshot-then-deltas contract.
"""

from __future__ import annotations

import json
from typing import Callable, Iterator

from pyctl_proto import node_pb2 as pb

from ..client import ApiClient
from ..client.shared import SharedInformer
from ..client.kinds import resource
from ..machinery.types import Obj


Ref = tuple[str, str, str]  # (kind, namespace, name)

SECRETS = resource("", "v1", "secrets")
CONFIGMAPS = resource("", "v1", "configmaps")


def _sources(spec: Obj) -> Iterator[tuple[str, str]]:
    """(kind, name) of every Secret/ConfigMap reference in a pod spec."""
    for c in (spec.get("initContainers") or []) + (spec.get("containers") or []) + \
            (spec.get("ephemeralContainers") or []):
        for e in c.get("env") or []:
            vf = e.get("valueFrom") or {}
            if (vf.get("secretKeyRef") or {}).get("name"):
                yield "Secret", vf["secretKeyRef"]["name"]
            if (vf.get("configMapKeyRef") or {}).get("name"):
                yield "ConfigMap", vf["configMapKeyRef"]["name"]
        for ef in c.get("envFrom") or []:
            if (ef.get("secretRef") or {}).get("name"):
                yield "Secret", ef["secretRef"]["name"]
            if (ef.get("configMapRef") or {}).get("name"):
                yield "ConfigMap", ef["configMapRef"]["name"]
    for v in spec.get("volumes") or []:
        if (v.get("secret") or {}).get("secretName"):
            yield "Secret", v["secret"]["secretName"]
        if (v.get("configMap") or {}).get("name"):
            yield "ConfigMap", v["configMap"]["name"]
        for src in (v.get("projected") or {}).get("sources") or []:
            if (src.get("secret") or {}).get("name"):
                yield "Secret", src["secret"]["name"]
            if (src.get("configMap") or {}).get("name"):
                yield "ConfigMap", src["configMap"]["name"]
    for ps in spec.get("imagePullSecrets") or []:
        if ps.get("name"):
            yield "Secret", ps["name"]


def references(pod: Obj) -> list[Ref]:
    """Every Secret and ConfigMap the pod references, once each, in a stable order."""
    ns = (pod.get("metadata") or {}).get("namespace") or "default"
    return sorted({(kind, ns, name) for kind, name in _sources(pod.get("spec") or {})})


def _payload(obj: Obj) -> str:
    """What the agent needs of an object: no managedFields, no annotations (which may hold a
    last-applied copy of the secret itself)."""
    md = obj.get("metadata") or {}
    out = {"metadata": {k: md[k] for k in ("name", "namespace", "uid", "resourceVersion") if k in md}}
    for k in ("type", "data", "binaryData"):
        if k in obj:
            out[k] = obj[k]
    return json.dumps(out, separators=(",", ":"), sort_keys=True)


class ConfigIndex:
    """Secrets and ConfigMaps by (kind, namespace, name); re-offers referencing pods on change."""

    def __init__(self, client: ApiClient, on_change: Callable[[Ref], None]) -> None:
        self._on_change = on_change
        self.informers = {"Secret": SharedInformer(client, SECRETS), "ConfigMap": SharedInformer(client, CONFIGMAPS)}
        for kind, inf in self.informers.items():
            changed = (lambda k: lambda obj, *_: self._changed(k, obj))(kind)
            inf.add_handlers(on_add=changed, on_update=lambda old, new, c=changed: c(new) if old is not new
                             else None, on_delete=changed)

    def start(self) -> None:
        for inf in self.informers.values():
            inf.start()

    async def stop(self) -> None:
        for inf in self.informers.values():
            await inf.stop()

    async def wait_synced(self, timeout: float | None = None) -> None:
        for inf in self.informers.values():
            await inf.wait_synced(timeout)

    def _changed(self, kind: str, obj: Obj) -> None:
        md = obj.get("metadata") or {}
        self._on_change((kind, md.get("namespace") or "default", md.get("name", "")))

    def objects_for(self, pod: Obj) -> list[pb.ConfigObject]:
        """The referenced objects as they are now; an absent one is sent empty (not found)."""
        out = []
        for kind, ns, name in references(pod):
            obj = self.informers[kind].get(f"{ns}/{name}")
            out.append(pb.ConfigObject(kind=kind, namespace=ns, name=name,
                                       object_json=_payload(obj) if obj is not None else ""))
        return out
