"""What the API serves right now, as discovery tells it: for components that must follow every
kind, including those CRDs add and remove while they run (garbage collector, namespace
controller). Two requests (aggregated discovery of /api and /apis), as kubectl makes them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ..resources.info import ResourceInfo
from .rest import ApiClient

AGGREGATED = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
_VERSION = re.compile(r"v(\d+)(?:(alpha|beta)(\d+))?")


def version_priority(version: str) -> tuple[int, int, int]:
    """Kubernetes' version order: GA before beta before alpha, higher numbers first (sort key)."""
    m = _VERSION.fullmatch(version)
    if not m:
        return (3, 0, 0)
    stage = {None: 0, "beta": 1, "alpha": 2}[m.group(2)]
    return (stage, -int(m.group(1)), -int(m.group(3) or 0))


@dataclass
class Served:
    """Every served resource (each version), and each resource's preferred version."""

    resources: list[ResourceInfo] = field(default_factory=list)
    by_type: dict[tuple[str, str], ResourceInfo] = field(default_factory=dict)  # (apiVersion, kind)

    def preferred(self, *verbs: str) -> list[ResourceInfo]:
        """One version of each resource (the preferred one) that allows every verb in `verbs`."""
        best: dict[tuple[str, str], ResourceInfo] = {}
        for info in self.resources:
            key = (info.group, info.resource)
            if key not in best or version_priority(info.version) < version_priority(best[key].version):
                best[key] = info
        return [i for i in best.values() if all(v in i.verbs for v in verbs)]


async def served(client: ApiClient) -> Served:
    """Ask the API server what it serves (raises the client's errors when it cannot say)."""
    out = Served()
    for path in ("/api", "/apis"):
        listing = await client.request("GET", client.config.base_url + path, accept=AGGREGATED)
        for group in (listing or {}).get("items") or []:
            name = (group.get("metadata") or {}).get("name", "")
            for version in group.get("versions") or []:
                for r in version.get("resources") or []:
                    info = ResourceInfo(
                        name, version.get("version", ""), r.get("resource", ""),
                        (r.get("responseKind") or {}).get("kind", ""), r.get("singularResource", ""),
                        r.get("scope") == "Namespaced", tuple(r.get("shortNames") or ()),
                        tuple(r.get("categories") or ()), verbs=tuple(r.get("verbs") or ()))
                    out.resources.append(info)
                    out.by_type[(info.api_version, info.kind)] = info
    return out
