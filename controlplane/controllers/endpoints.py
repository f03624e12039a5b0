"""Endpoints controller: for each Service with a selector, the pods it selects as an Endpoints
object of the same name.

Ready pods (Ready=True, with a podIP, not terminating) become `subsets[].addresses`,
the others `notReadyAddresses`; ports come from the Service, a named `targetPort` being
resolved per pod against its containers' named ports (a pod that lacks the name is left out
for that port, as in Kubernetes). Level-triggered: Service, Pod and Endpoints events only
enqueue Service keys; `sync(key)` recomputes the whole Endpoints from the caches and writes
only when it differs. A Service that is gone takes its Endpoints with it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Hashable

from ..client import AlreadyExists, ApiClient, Forbidden, NotFound
from ..client.shared import SharedInformer
from ..client.kinds import PODS, resource
from ..client.urls import object_key, split_key
from ..machinery.selectors import LabelSelector, SelectorError, label_selector_from_spec
from .workqueue import WorkQueue
from .lifecycle import stop_controller
from ..machinery.types import Obj

log = logging.getLogger(__name__)

SERVICES = resource("", "v1", "services")
ENDPOINTS = resource("", "v1", "endpoints")
HEADLESS_LABEL = "service.kubernetes.io/headless"
LEADER_ANNOTATION = "control-plane.alpha.kubernetes.io/leader"

CONFLICT_RETRY = 0.05  # seconds before a sync that lost a write race looks again


# -- pure decisions -------------------------------------------------------------------------

def pod_ready(pod: Obj) -> bool:
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in (pod.get("status") or {}).get("conditions") or [])


def should_include(pod: Obj, include_terminating: bool) -> bool:
    """Whether a pod belongs in Endpoints at all (ready or not): it has an IP, is not being
    deleted, and is not finished for good under its restart policy."""
    status = pod.get("status") or {}
    if not status.get("podIP"):
        return False
    if not include_terminating and (pod.get("metadata") or {}).get("deletionTimestamp"):
        return False
    phase = status.get("phase")
    policy = (pod.get("spec") or {}).get("restartPolicy", "Always")
    if policy == "Never":
        return phase not in ("Failed", "Succeeded")
    if policy == "OnFailure":
        return phase != "Succeeded"
    return True


def resolve_port(pod: Obj, service_port: Obj) -> int | None:
    """The pod's port for a Service port: a number as is, a name looked up among the
    containers' ports of the same protocol; None when the pod has no such named port."""
    target = service_port.get("targetPort")
    if target in (None, "", 0):
        target = service_port.get("port")
    if isinstance(target, int):
        return target
    if isinstance(target, str) and target.isdigit():
        return int(target)
    protocol = service_port.get("protocol", "TCP")
    for c in (pod.get("spec") or {}).get("containers") or []:
        for p in c.get("ports") or []:
            if p.get("name") == target and p.get("protocol", "TCP") == protocol:
                return int(p["containerPort"])
    return None


def _address(pod: Obj, service_name: str) -> Obj:
    md, spec = pod["metadata"], pod.get("spec") or {}
    addr: Obj = {"ip": pod["status"]["podIP"],
                 "targetRef": {"kind": "Pod", "name": md["name"], "namespace": md.get("namespace", ""),
                               "uid": md.get("uid", "")}}
    if spec.get("nodeName"):
        addr["nodeName"] = spec["nodeName"]
    if spec.get("hostname") and spec.get("subdomain") == service_name:
        addr["hostname"] = spec["hostname"]
    return addr


def desired_subsets(service: Obj, pods: list[Obj]) -> list[Obj]:
    """The Endpoints subsets for a Service and the pods its selector matches, packed as
    Kubernetes packs them: one subset per distinct set of resolved ports, sorted."""
    spec = service.get("spec") or {}
    name = service["metadata"]["name"]
    publish_not_ready = bool(spec.get("publishNotReadyAddresses"))
    svc_ports = spec.get("ports") or []
    # (ports tuple) -> (ready addresses, not-ready addresses)
    groups: dict[tuple, tuple[list[Obj], list[Obj]]] = {}
    for pod in pods:
        if not should_include(pod, publish_not_ready):
            continue
        ports: list[tuple[str, int, str, str]] = []
        for sp in svc_ports:
            number = resolve_port(pod, sp)
            if number is not None:
                ports.append((sp.get("name", ""), number, sp.get("protocol", "TCP"), sp.get("appProtocol", "")))
        if svc_ports and not ports:
            continue  # none of the Service's ports exist on this pod
        ready = publish_not_ready or pod_ready(pod)
        bucket = groups.setdefault(tuple(sorted(ports)), ([], []))
        bucket[0 if ready else 1].append(_address(pod, name))
    subsets = []
    for port_set in sorted(groups):
        ready_addrs, not_ready_addrs = groups[port_set]
        subset: Obj = {}
        if ready_addrs:
            subset["addresses"] = sorted(ready_addrs, key=_addr_sort_key)
        if not_ready_addrs:
            subset["notReadyAddresses"] = sorted(not_ready_addrs, key=_addr_sort_key)
        if port_set:
            subset["ports"] = [_port(*p) for p in port_set]
        subsets.append(subset)
    return subsets


def _addr_sort_key(addr: Obj) -> tuple:
    return (tuple(int(x) if x.isdigit() else 0 for x in addr["ip"].replace(":", ".").split(".")),
            addr["ip"], addr["targetRef"]["uid"])


def _port(name: str, port: int, protocol: str, app_protocol: str) -> Obj:
    p: Obj = {"port": port, "protocol": protocol}
    if name:
        p["name"] = name
    if app_protocol:
        p["appProtocol"] = app_protocol
    return p


def desired_labels(service: Obj) -> dict[str, str]:
    labels = dict((service.get("metadata") or {}).get("labels") or {})
    if (service.get("spec") or {}).get("clusterIP") == "None":
        labels[HEADLESS_LABEL] = ""
    else:
        labels.pop(HEADLESS_LABEL, None)
    return labels


def selector_of(service: Obj) -> LabelSelector | None:
    """The Service's pod selector; None for a Service without one (its Endpoints are the user's)."""
    selector = (service.get("spec") or {}).get("selector")
    if not selector:
        return None  # `selector: {}` too: Kubernetes stores an empty map as no selector at all
    try:
        return label_selector_from_spec({"matchLabels": selector})
    except SelectorError:
        return LabelSelector.nothing()


# -- the controller -------------------------------------------------------------------------

class EndpointsController:
    def __init__(self, client: ApiClient, *, workers: int = 2, owns_client: bool = False) -> None:
        self.client = client
        self._owns_client = owns_client
        self.workers = workers
        self.services = SharedInformer(client, SERVICES)
        self.pods = SharedInformer(client, PODS)
        self.endpoints = SharedInformer(client, ENDPOINTS)
        self.queue = WorkQueue("endpoints", conflict_retry=CONFLICT_RETRY)
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self.services.add_handlers(on_add=self._enqueue_obj, on_update=lambda old, new: self._enqueue_obj(new),
                                   on_delete=self._enqueue_obj)
        self.pods.add_handlers(on_add=self._pod_changed, on_update=self._pod_updated,
                               on_delete=self._pod_changed)
        # Our own output changed or vanished under us: recheck (and repair) it.
        self.endpoints.add_handlers(on_update=lambda old, new: self._enqueue_if_service(new),
                                    on_delete=self._enqueue_if_service)
        for inf in (self.services, self.pods, self.endpoints):
            inf.start()
        self._task = asyncio.create_task(self._run(), name="endpoints-controller")

    async def stop(self) -> None:
        await stop_controller(self.queue, self._task, (self.services, self.pods, self.endpoints))
        if self._owns_client:
            await self.client.close()

    async def _run(self) -> None:
        for inf in (self.services, self.pods, self.endpoints):
            await inf.wait_synced()
        # Endpoints left behind by Services deleted while no controller ran.
        for ep in self.endpoints.list():
            # Endpoints used as a leader-election lock (old-style) are nobody's output.
            if LEADER_ANNOTATION in (ep["metadata"].get("annotations") or {}):
                continue
            if self.services.get(object_key(ep)) is None:
                self.queue.add(object_key(ep))
        await self.queue.run(self.sync, self.workers)

    # -- handlers: only say which Services to look at -----------------------------------------

    def _enqueue_obj(self, obj: Obj) -> None:
        self.queue.add(object_key(obj))

    def _enqueue_if_service(self, ep: Obj) -> None:
        if self.services.get(object_key(ep)) is not None:
            self.queue.add(object_key(ep))

    def _services_for(self, pod: Obj) -> list[str]:
        ns = pod["metadata"].get("namespace", "")
        labels = pod["metadata"].get("labels") or {}
        keys = []
        for svc in self.services.list():
            if svc["metadata"].get("namespace") != ns:
                continue
            selector = selector_of(svc)
            if selector is not None and selector.matches(labels):
                keys.append(object_key(svc))
        return keys

    def _pod_changed(self, pod: Obj) -> None:
        for key in self._services_for(pod):
            self.queue.add(key)

    def _pod_updated(self, old: Obj, new: Obj) -> None:
        # Labels may have changed: Services that selected the old pod must drop it.
        keys = set(self._services_for(new))
        if (old["metadata"].get("labels") or {}) != (new["metadata"].get("labels") or {}):
            keys.update(self._services_for(old))
        for key in keys:
            self.queue.add(key)

    # -- sync ---------------------------------------------------------------------------------

    async def sync(self, key: Hashable) -> None:
        namespace, name = split_key(str(key))
        service = self.services.get(str(key))
        if service is None:
            with contextlib.suppress(NotFound):
                await self.client.delete(ENDPOINTS, name, namespace)
            return
        selector = selector_of(service)
        if selector is None or (service.get("spec") or {}).get("type") == "ExternalName":
            return  # no selector (or just a DNS name): the user manages this Service's Endpoints
        if service["metadata"].get("deletionTimestamp"):
            return  # going away; its Endpoints go when it is gone
        pods = [p for p in self.pods.list()
                if p["metadata"].get("namespace") == namespace and selector.matches(p["metadata"].get("labels"))]
        subsets = desired_subsets(service, pods)
        labels = desired_labels(service)
        current = self.endpoints.get(str(key))
        if current is not None and (current.get("subsets") or []) == subsets and \
                (current["metadata"].get("labels") or {}) == labels:
            return  # nothing changed: write nothing
        await self._write(namespace, name, current, subsets, labels)

    async def _write(self, namespace: str, name: str, current: Obj | None, subsets: list[Obj],
                     labels: dict[str, str]) -> None:
        if current is None:
            body = {"apiVersion": "v1", "kind": "Endpoints",
                    "metadata": {"name": name, "namespace": namespace, "labels": labels}, "subsets": subsets}
            try:
                await self.client.create(ENDPOINTS, body, namespace)
                return
            except Forbidden:
                return  # the namespace is terminating: nothing may be created in it
            except AlreadyExists:
                # Our cache is behind (or a user made it): take it over with a conditional update.
                current = await self.client.get(ENDPOINTS, name, namespace)
        body = {**current, "subsets": subsets,
                "metadata": {**current["metadata"], "labels": labels}}
        try:
            await self.client.update(ENDPOINTS, body, namespace)  # a Conflict: the workqueue retries
        except NotFound:
            self.queue.add(f"{namespace}/{name}")  # deleted under us: create it next time


async def run_endpoints_controller(api_url: str) -> EndpointsController:
    """Start the controller against an API server; `await controller.stop()` to end it."""
    client = ApiClient(api_url, user_agent="pyctl-endpoints-controller")
    controller = EndpointsController(client, owns_client=True)
    await controller.start()
    return controller
