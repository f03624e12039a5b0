"""The ingress proxy's routing table: pyctl-class Ingresses resolved to endpoints and certificates.

The agents that run the ingress proxy (their Node says ingress.pyctl.io/proxy=true) render
it into their proxy's configuration. Routing semantics (which Ingresses are ours, host and
path precedence) are machinery/ingress.py's; this module resolves each backend
(Service + port number or name) to the ready endpoints of that Service port, and each TLS
Secret to its certificate and key. Like the ServiceTable it is always COMPLETE, built once
per change and shared by the sessions that want it; a change to a Service, Endpoints or
Secret the table does not reference rebuilds nothing.
"""

from __future__ import annotations

import base64
import binascii
import logging
from typing import Callable

from pyctl_proto import node_pb2 as pb

from ..client import ApiClient
from ..client.kinds import resource
from ..client.shared import SharedInformer
from ..machinery.ingress import BackendRef, Routing, handled, routing
from ..machinery.types import Obj
from .podconfig import SECRETS
from .services import ENDPOINTS, SERVICES, backends

log = logging.getLogger(__name__)

INGRESSES = resource("networking.k8s.io", "v1", "ingresses")
INGRESS_CLASSES = resource("networking.k8s.io", "v1", "ingressclasses")

Lookup = Callable[[str], Obj | None]


def _key(obj: Obj) -> str:
    md = obj.get("metadata") or {}
    return f"{md.get('namespace', '')}/{md.get('name', '')}" if md.get("namespace") else md.get("name", "")


def service_port(service: Obj | None, port: int | str) -> tuple[str, str] | None:
    """(port name, protocol) of the Service port an Ingress backend names by number or name."""
    for p in (service or {}).get("spec", {}).get("ports") or []:
        if (isinstance(port, int) and p.get("port") == port) or (isinstance(port, str) and p.get("name") == port):
            return p.get("name") or "", p.get("protocol") or "TCP"
    return None


def backend_endpoints(ref: BackendRef, services: Lookup, endpoints: Lookup) -> list[pb.ServiceBackend]:
    key = f"{ref.namespace}/{ref.service}"
    found = service_port(services(key), ref.port)
    return backends(endpoints(key), *found) if found is not None else []


def certificate(secret: Obj | None) -> tuple[bytes, bytes] | None:
    """(certificate PEM, key PEM) of a TLS Secret; None when it lacks either."""
    data = (secret or {}).get("data") or {}
    try:
        cert, key = base64.b64decode(data.get("tls.crt") or ""), base64.b64decode(data.get("tls.key") or "")
    except (binascii.Error, ValueError):
        return None
    return (cert, key) if cert and key else None


def ingress_table(r: Routing, services: Lookup, endpoints: Lookup, secrets: Lookup) -> pb.IngressTable:
    table = pb.IngressTable(default_backend=r.default.name if r.default else "")
    for h in r.hosts:
        table.hosts.append(pb.IngressHost(
            host=h.host, default_backend=h.default.name if h.default else "",
            paths=[pb.IngressPath(path=p.path, path_type=p.path_type, backend=p.backend.name) for p in h.paths]))
    for ref in r.backends():
        table.backends.append(pb.IngressBackend(name=ref.name, endpoints=backend_endpoints(ref, services, endpoints)))
    for c in r.certificates:
        name = f"{c.namespace}/{c.secret}"
        pair = certificate(secrets(name))
        if pair is None:
            log.debug("ingress TLS secret %s is missing or not a TLS secret: its hosts get the default certificate",
                      name)
            continue
        table.certificates.append(pb.IngressCertificate(name=name, hosts=list(c.hosts), cert_pem=pair[0],
                                                        key_pem=pair[1]))
    return table


class IngressDirectory:
    """Ingresses, IngressClasses and what they reference, and the sessions to tell on change."""

    def __init__(self, client: ApiClient) -> None:
        self.ingresses = SharedInformer(client, INGRESSES)
        self.classes = SharedInformer(client, INGRESS_CLASSES)
        self.services = SharedInformer(client, SERVICES)
        self.endpoints = SharedInformer(client, ENDPOINTS)
        self.secrets = SharedInformer(client, SECRETS)
        self._table: pb.IngressTable | None = None  # None: rebuild on the next read
        self._referenced: set[str] = set()  # ns/name of the Services and Secrets the table uses
        self._listeners: dict[str, Callable[[], None]] = {}
        for informer in (self.ingresses, self.classes):
            informer.add_handlers(on_add=self._changed, on_update=lambda old, new: self._changed(new),
                                  on_delete=self._changed)
        for informer in (self.services, self.endpoints, self.secrets):
            informer.add_handlers(on_add=self._maybe, on_update=lambda old, new: self._maybe(new),
                                  on_delete=self._maybe)

    @property
    def _informers(self) -> tuple[SharedInformer, ...]:
        return (self.ingresses, self.classes, self.services, self.endpoints, self.secrets)

    async def start(self) -> None:
        for informer in self._informers:
            informer.start()

    async def stop(self) -> None:
        for informer in self._informers:
            await informer.stop()

    async def wait_synced(self) -> None:
        for informer in self._informers:
            await informer.wait_synced()

    def subscribe(self, node: str, changed: Callable[[], None]) -> None:
        self._listeners[node] = changed

    def unsubscribe(self, node: str, changed: Callable[[], None]) -> None:
        if self._listeners.get(node) == changed:
            del self._listeners[node]

    def routing(self) -> Routing:
        classes = {_key(c): c for c in self.classes.list()}
        return routing(i for i in self.ingresses.list() if handled(i, classes))

    def table(self) -> pb.IngressTable:
        if self._table is None:
            r = self.routing()
            self._referenced = {f"{b.namespace}/{b.service}" for b in r.backends()} | \
                {f"{c.namespace}/{c.secret}" for c in r.certificates}
            self._table = ingress_table(r, self.services.get, self.endpoints.get, self.secrets.get)
        return self._table

    def _maybe(self, obj: Obj) -> None:
        if self._table is None or _key(obj) in self._referenced:
            self._changed(obj)

    def _changed(self, _obj: Obj) -> None:
        self._table = None
        for changed in list(self._listeners.values()):
            changed()
