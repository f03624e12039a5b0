"""What the server serves, learned from its discovery documents, and the one place URLs are built.

`Discovery` reads `/api` and `/apis` (aggregated discovery when the server offers it, the
per-group-version lists otherwise) once per run, then resolves what a user types —
`deploy`, `deployments.apps`, `deployment.v1.apps`, `po`, the `all` category — and what a
manifest says (`apps/v1` + `Deployment`) to a `Resource`, which builds the request paths.
Nothing here is specific to pyctl's server: any Kubernetes API server works.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Iterable

from .errors import ApiError, CommandError

if TYPE_CHECKING:
    from .client import ApiClient

AGGREGATED = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
DISCOVERY_ACCEPT = f"{AGGREGATED},application/json"


@dataclass(frozen=True)
class Resource:
    group: str
    version: str
    name: str
    """Plural, as in URLs: `deployments`."""
    kind: str
    singular: str
    namespaced: bool
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    verbs: tuple[str, ...] = ()
    subresources: tuple[str, ...] = ()

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def group_resource(self) -> str:
        """`deployments.apps` (`pods` in the core group): how errors and `delete` name it."""
        return f"{self.name}.{self.group}" if self.group else self.name

    @property
    def kind_ref(self) -> str:
        """`deployment.apps` (`pod`): the prefix of `deployment.apps/myapp`."""
        return f"{self.kind.lower()}.{self.group}" if self.group else self.kind.lower()

    def ref(self, name: str) -> str:
        return f"{self.kind_ref}/{name}"

    def path(self, namespace: str | None = None, name: str | None = None,
             subresource: str | None = None) -> str:
        """`/apis/apps/v1/namespaces/NS/deployments/NAME/scale`; no namespace means all."""
        base = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        if self.namespaced and namespace:
            base += f"/namespaces/{namespace}"
        base += f"/{self.name}"
        if name is not None:
            base += f"/{name}"
            if subresource:
                base += f"/{subresource}"
        return base


class Discovery:
    """The server's resource types, fetched lazily and cached for the run."""

    def __init__(self, client: "ApiClient") -> None:
        self.client = client
        self._resources: list[Resource] | None = None
        self._preferred: set[tuple[str, str]] = set()
        self._plain_groups: dict[str, list[str]] = {}
        self._loaded_gvs: set[tuple[str, str]] = set()

    # -- loading -------------------------------------------------------------------------------

    @property
    def resources(self) -> list[Resource]:
        if self._resources is None:
            self._resources = []
            for root in ("/api", "/apis"):
                resp = self.client.request("GET", root, accept=DISCOVERY_ACCEPT)
                body = resp.json() or {}
                if "as=APIGroupDiscoveryList" in resp.content_type.replace(" ", ""):
                    self._read_aggregated(body)
                else:
                    self._read_plain(root, body)
        return self._resources

    def _read_aggregated(self, body: dict[str, Any]) -> None:
        assert self._resources is not None
        for item in body.get("items") or []:
            group = (item.get("metadata") or {}).get("name", "")
            for i, ver in enumerate(item.get("versions") or []):
                version = ver.get("version", "")
                if i == 0:
                    self._preferred.add((group, version))
                self._loaded_gvs.add((group, version))
                for r in ver.get("resources") or []:
                    kind = (r.get("responseKind") or {}).get("kind", "")
                    self._resources.append(Resource(
                        group, version, r.get("resource", ""), kind,
                        r.get("singularResource") or kind.lower(), r.get("scope") != "Cluster",
                        tuple(r.get("shortNames") or ()), tuple(r.get("categories") or ()),
                        tuple(r.get("verbs") or ()),
                        tuple(s.get("subresource", "") for s in r.get("subresources") or ())))

    def _read_plain(self, root: str, body: dict[str, Any]) -> None:
        if root == "/api":
            for version in body.get("versions") or []:
                self._preferred.add(("", version))
                self._load_group_version("", version)
            return
        for group in body.get("groups") or []:
            name = group.get("name", "")
            preferred = (group.get("preferredVersion") or {}).get("version")
            versions = [v.get("version", "") for v in group.get("versions") or []]
            self._plain_groups[name] = versions
            if preferred or versions:
                version = preferred or versions[0]
                self._preferred.add((name, version))
                self._load_group_version(name, version)

    def _load_group_version(self, group: str, version: str) -> None:
        assert self._resources is not None
        if (group, version) in self._loaded_gvs:
            return
        self._loaded_gvs.add((group, version))
        path = f"/apis/{group}/{version}" if group else f"/api/{version}"
        try:
            body = self.client.get(path) or {}
        except ApiError as exc:
            if exc.code == 404:
                return
            raise
        entries = body.get("resources") or []
        subs: dict[str, list[str]] = {}
        for r in entries:
            base, _, sub = r.get("name", "").partition("/")
            if sub:
                subs.setdefault(base, []).append(sub)
        for r in entries:
            name = r.get("name", "")
            if "/" in name:
                continue
            kind = r.get("kind", "")
            self._resources.append(Resource(
                group, version, name, kind, r.get("singularName") or kind.lower(),
                bool(r.get("namespaced")), tuple(r.get("shortNames") or ()),
                tuple(r.get("categories") or ()), tuple(r.get("verbs") or ()),
                tuple(subs.get(name, ()))))

    # -- lookups ---------------------------------------------------------------------------------

    def _preferred_resources(self) -> Iterable[Resource]:
        return (r for r in self.resources if (r.group, r.version) in self._preferred)

    def resolve(self, typed: str) -> list[Resource]:
        """What a user typed as a type; a category gives several. Unknown: CommandError."""
        found = self._match(typed)
        if found is not None:
            return [found]
        category = [r for r in self._preferred_resources() if typed.lower() in r.categories]
        if category:
            return category
        raise CommandError(f'the server doesn\'t have a resource type "{typed}"')

    def _match(self, typed: str) -> Resource | None:
        lowered = typed.lower()
        candidates: list[tuple[str, str | None, str | None]] = [(lowered, None, None)]
        if "." in lowered:
            head, _, rest = lowered.partition(".")
            candidates.insert(0, (head, None, rest))  # resource.group
            maybe_version, _, maybe_group = rest.partition(".")
            if maybe_group:
                candidates.insert(0, (head, maybe_version, maybe_group))  # resource.version.group
        for base, version, group in candidates:
            pool = self.resources if version else list(self._preferred_resources())
            for r in pool:
                if group is not None and r.group != group:
                    continue
                if version is not None and r.version != version:
                    continue
                if base in (r.name, r.singular, r.kind.lower()) or base in r.short_names:
                    return r
        return None

    def for_kind(self, api_version: str, kind: str) -> Resource | None:
        """The resource of a manifest's apiVersion + kind, or None when not served."""
        group, _, version = api_version.rpartition("/")
        resources = self.resources
        if (group, version) not in self._loaded_gvs and group in self._plain_groups:
            self._load_group_version(group, version)
        for r in resources:
            if r.group == group and r.version == version and r.kind == kind:
                return r
        return None

    def by_group_kind(self, group: str, kind: str) -> Resource | None:
        """The preferred version's resource for a group + kind (e.g. from an ownerReference)."""
        for r in self._preferred_resources():
            if r.group == group and r.kind == kind:
                return r
        return None
