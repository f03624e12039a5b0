"""The controller manager: every controller, run only while this process holds the lease.

`ControllerManager` campaigns for the Lease `kube-system/pyctl-controller-manager`; on
winning it starts fresh instances of every controller (each with its own client, so each
writes as its own field manager), on losing the lease it stops them all, and on a clean
stop it gives the lease up so a standby takes over at once. Controllers keep no state that
their informers cannot rebuild, so a new leader simply starts from what the API holds.
Their informers are shared (controlplane.client.shared): one watch per kind for every
controller, the scheduler and the gateway of this process; a controller started while
another keeps that watch open gets its cache replayed instead of listing again.

`Elected` is the reusable piece: start/stop something under a named lease (the scheduler
uses it too, see controlplane.components).

Adding a controller: its module (one per controller) and one line in CONTROLLERS.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field, replace
from typing import Any, Awaitable, Callable, Protocol

from ..client import ApiClient
from ..leader import ElectionConfig, LeaderElector
from .clusterrole_aggregation import ClusterRoleAggregationController
from .cronjob import CronJobController
from .daemonset import DaemonSetController
from .deployment import DeploymentController
from .disruption import DisruptionController
from .endpoints import EndpointsController
from .garbage_collector import GarbageCollector
from .ingress import IngressController
from .job import JobController
from .localpath import LocalPathConfig, LocalPathProvisioner
from .namespace import NamespaceConfig, NamespaceController
from .node_ipam import NodeIpamConfig, NodeIpamController
from .node_lifecycle import NodeLifecycleConfig, NodeLifecycleController
from .persistentvolume import PersistentVolumeController
from .pod_gc import PodGC
from .podautoscaler import AutoscalerConfig, HorizontalController
from .pv_protection import PvProtectionController
from .pvc_protection import PvcProtectionController
from .replicaset import ReplicaSetController
from .replicationcontroller import replication_controller
from .rootca import RootCAPublisher
from .serviceaccount import ServiceAccountsController
from .statefulset import StatefulSetController
from .servicelb import ServiceLBController
from .ttl_after_finished import TTLAfterFinishedController

log = logging.getLogger(__name__)

LEASE_NAME = "pyctl-controller-manager"


class Controller(Protocol):
    async def start(self) -> None: ...
    async def stop(self) -> None: ...


@dataclass(frozen=True)
class ManagerConfig:
    node_grace: float = 40.0
    """Seconds without a node lease renewal before the node is NotReady."""
    eviction_timeout: float = 60.0
    """Seconds a node stays unreachable before its pods are marked for deletion."""
    node_monitor_period: float = 5.0
    """Seconds between the node lifecycle controller's passes."""
    namespace_poll_period: float = 1.0
    """Seconds between passes over a terminating namespace that still has content."""
    leader_election: bool = True
    """Run controllers only while holding the lease (False: run them at once, alone)."""
    lease_duration: float = 15.0
    renew_deadline: float = 10.0
    retry_period: float = 2.0
    identity: str = ""
    """This candidate's name in the Lease; hostname_pid_random when empty."""
    controllers: tuple[str, ...] = ()
    """Run only these (names as in CONTROLLERS); empty: all."""
    cluster_cidr: str = "10.244.0.0/16"
    """The pod network every node's podCIDR is carved from (node IPAM)."""
    node_cidr_mask: int = 24
    """Prefix length of each node's podCIDR."""
    local_storage_class: str = "local-path"
    """The StorageClass of the built-in local provisioner, made (as the default) when absent; "" for none."""
    root_ca_file: str = ""
    """The cluster CA (PEM) published as `kube-root-ca.crt` in every namespace ("": none)."""
    autoscaler: AutoscalerConfig = field(default_factory=AutoscalerConfig)
    """The HorizontalPodAutoscaler controller's sync period, tolerance and windows."""


# -- leader election around start/stop ------------------------------------------------------

class Elected:
    """Runs `on_started` while holding the lease `election.name`, `on_stopped` on losing it."""

    def __init__(self, client: ApiClient, election: ElectionConfig, on_started: Callable[[], Awaitable[None]],
                 on_stopped: Callable[[], Awaitable[None]], *, enabled: bool = True) -> None:
        self.client = client
        self.elector = LeaderElector(client, election)
        self.enabled = enabled
        self._on_started, self._on_stopped = on_started, on_stopped
        self._task: asyncio.Task[None] | None = None
        self._running = False

    @property
    def identity(self) -> str:
        return self.elector.identity

    @property
    def is_leader(self) -> bool:
        return self.elector.is_leader if self.enabled else self._running

    async def start(self) -> None:
        if not self.enabled:
            await self._started()
            return
        self._task = asyncio.create_task(self.elector.run(self._started, self._stopped),
                                         name=f"elect-{self.elector.config.name}")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task  # the elector's finally stops what we started
            self._task = None
            await self.elector.release()
        await self._stopped()

    async def _started(self) -> None:
        self._running = True
        # Never raise here: an exception would end the election loop for good.
        try:
            await self._on_started()
        except Exception:
            log.exception("%s: starting failed", self.elector.config.name)

    async def _stopped(self) -> None:
        # Also after a start that was cancelled half way: on_stopped must be idempotent.
        self._running = False
        try:
            await self._on_stopped()
        except Exception:
            log.exception("%s: stopping failed", self.elector.config.name)



# -- the controllers ------------------------------------------------------------------------

def _namespace(client: ApiClient, cfg: ManagerConfig) -> Controller:
    return NamespaceController(client, NamespaceConfig(poll_period=cfg.namespace_poll_period))


def _node_lifecycle(client: ApiClient, cfg: ManagerConfig) -> Controller:
    return NodeLifecycleController(client, NodeLifecycleConfig(
        grace_period=cfg.node_grace, eviction_timeout=cfg.eviction_timeout, monitor_period=cfg.node_monitor_period))


def _node_ipam(client: ApiClient, cfg: ManagerConfig) -> Controller:
    return NodeIpamController(client, NodeIpamConfig(cluster_cidr=cfg.cluster_cidr, node_mask=cfg.node_cidr_mask))


def _read(path: str) -> str:
    if not path:
        return ""
    with open(path, encoding="ascii") as f:
        return f.read()


CONTROLLERS: dict[str, Callable[[ApiClient, ManagerConfig], Controller]] = {
    "endpoints": lambda client, cfg: EndpointsController(client),
    "garbagecollector": lambda client, cfg: GarbageCollector(client),
    "namespace": _namespace,
    "replicaset": lambda client, cfg: ReplicaSetController(client),
    "deployment": lambda client, cfg: DeploymentController(client),
    "nodelifecycle": _node_lifecycle,
    "podgc": lambda client, cfg: PodGC(client),
    "nodeipam": _node_ipam,
    "serviceaccount": lambda client, cfg: ServiceAccountsController(client),
    "clusterrole-aggregation": lambda client, cfg: ClusterRoleAggregationController(client),
    "replicationcontroller": lambda client, cfg: replication_controller(client),
    "job": lambda client, cfg: JobController(client),
    "cronjob": lambda client, cfg: CronJobController(client),
    "ttl-after-finished": lambda client, cfg: TTLAfterFinishedController(client),
    "disruption": lambda client, cfg: DisruptionController(client),
    "daemonset": lambda client, cfg: DaemonSetController(client),
    "statefulset": lambda client, cfg: StatefulSetController(client),
    "persistentvolume-binder": lambda client, cfg: PersistentVolumeController(client),
    "pvc-protection": lambda client, cfg: PvcProtectionController(client),
    "pv-protection": lambda client, cfg: PvProtectionController(client),
    "local-path-provisioner": lambda client, cfg: LocalPathProvisioner(
        client, LocalPathConfig(storage_class=cfg.local_storage_class)),
    "servicelb": lambda client, cfg: ServiceLBController(client),
    "ingress": lambda client, cfg: IngressController(client),
    "root-ca-cert-publisher": lambda client, cfg: RootCAPublisher(client, _read(cfg.root_ca_file)),
    "horizontalpodautoscaling": lambda client, cfg: HorizontalController(client, cfg.autoscaler),
}


class ControllerManager:
    """`await start()` campaigns (or runs at once without leader election); `await stop()`
    stops every controller and hands the lease back."""

    def __init__(self, api_url: str, *, config: ManagerConfig | None = None, **overrides: Any) -> None:
        self.api_url = api_url
        self.config = replace(config or ManagerConfig(), **overrides)
        unknown = set(self.config.controllers) - set(CONTROLLERS)
        if unknown:
            raise ValueError(f"unknown controllers: {', '.join(sorted(unknown))}")
        self.client = ApiClient(api_url, user_agent="pyctl-controller-manager")
        cfg = self.config
        election = ElectionConfig(name=LEASE_NAME, lease_duration=cfg.lease_duration,
                                  renew_deadline=cfg.renew_deadline, retry_period=cfg.retry_period,
                                  identity=cfg.identity)
        self.elected = Elected(self.client, election, self._start_controllers, self._stop_controllers,
                               enabled=cfg.leader_election)
        self.running: dict[str, tuple[Controller, ApiClient]] = {}

    @property
    def identity(self) -> str:
        return self.elected.identity

    @property
    def is_leader(self) -> bool:
        return self.elected.is_leader

    async def start(self) -> None:
        await self.elected.start()

    async def stop(self) -> None:
        await self.elected.stop()
        await self.client.close()

    async def _start_controllers(self) -> None:
        names = self.config.controllers or tuple(CONTROLLERS)
        for name in names:
            client = ApiClient(self.api_url, user_agent=f"pyctl-{name}-controller")
            controller = CONTROLLERS[name](client, self.config)
            # Recorded before it starts, so a stop that interrupts the start still stops it.
            self.running[name] = (controller, client)
            try:
                await controller.start()
            except Exception:
                log.exception("controller %s failed to start", name)
        log.info("controllers running: %s", ", ".join(self.running) or "none")

    async def _stop_controllers(self) -> None:
        running, self.running = self.running, {}

        async def stop_one(name: str, controller: Controller, client: ApiClient) -> None:
            try:
                await controller.stop()
            except Exception:
                log.exception("controller %s failed to stop cleanly", name)
            finally:
                await client.close()

        await asyncio.gather(*(stop_one(n, c, cl) for n, (c, cl) in running.items()))
        if running:
            log.info("controllers stopped: %s", ", ".join(running))
