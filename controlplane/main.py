"""pyctl-controlplane: the API server, and the scheduler, controllers and node gateway.

The API server runs in this process; the other components in one child process
(componentsproc.py), so the control plane uses two cores; `--components-process=inline`
runs them all in this one process instead. `--api-workers N` serves the API from N processes
on the same port, this one and N-1 children (apiworkers.py), for machines with cores to spare.

Several may run against one etcd: API servers are stateless, the gateway serves whichever
agents dial it, and the scheduler and controllers act only while their process holds
their Lease (leader election through the API).
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import logging
import shutil
import signal
import ssl
import sys

from aiohttp import web

from . import eventloop, exposition
from .api import metrics as api_metrics
from .api.app import build_app
from .api.config import ApiConfig
from .api.nodeports import parse_port_range
from .api.apiendpoints import first_ip
from .api.serviceip import parse_range
from .auth.pki import missing_sans
from .auth.authn import load_token_file
from .api.access.authorizer import MODES
from .auth.kubeconfig import admin_kubeconfig, write_kubeconfig
from .api.peers import WorkerLink, worker_directory
from .api.serving import Secured, secure
from .api import written
from .apiworkers import ApiWorkers, WorkersFailed, listen_sockets
from .client import credentials
from .components import ComponentsConfig, Running, run_components
from .componentsproc import ChildSpec, ComponentsFailed, ComponentsProcess
from .controllers.manager import ManagerConfig
from .controllers.node_ipam import CidrAllocator
from .controllers.podautoscaler import AutoscalerConfig
from .gateway import GatewayConfig
from .gateway.security import GatewayTls
from .machinery.units import parse_duration
from .store import encryption

EXAMPLES = """\
examples:
  # a control plane on a local etcd
  pyctl-controlplane --etcd-servers http://127.0.0.1:2379

  # listen on another address, against a 3-member etcd cluster
  pyctl-controlplane --etcd-servers http://10.0.0.1:2379,http://10.0.0.2:2379,http://10.0.0.3:2379 \\
      --listen 0.0.0.0:6443

  # the API served by 4 processes on one port (for a machine with 6+ cores: they share them
  # with etcd and the components process)
  pyctl-controlplane --etcd-servers http://127.0.0.1:2379 --api-workers 4

  # only the API server and the node gateway (scheduler and controllers run elsewhere)
  pyctl-controlplane --etcd-servers http://127.0.0.1:2379 --components apiserver,gateway

  # HTTPS with a cluster CA made on first start, RBAC, and an admin kubeconfig for kubectl/pyctl;
  # the node gateway then requires node certificates (port 7443) and serves joins (port 7444)
  pyctl-controlplane --etcd-servers http://127.0.0.1:2379 --pki-dir /var/lib/pyctl/pki \\
      --authorization-mode RBAC --write-kubeconfig ~/.pyctl/config --tls-san 10.0.0.1

  # then, for each new node: a join token and the pyctl-agent command that uses it
  pyctl token create --ttl 2h

environment:
  PYCTL_UVLOOP=0  run on asyncio's own event loop instead of uvloop (the default)
"""

COMPONENTS = ("apiserver", "scheduler", "controllers", "gateway")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="pyctl-controlplane", epilog=EXAMPLES,
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                description="Run the pyctl control plane against etcd.")
    p.add_argument("--etcd-servers", required=True,
                   help="comma-separated etcd client URLs, e.g. http://127.0.0.1:2379")
    p.add_argument("--listen", default="127.0.0.1:6443",
                   help="API server address, or several comma-separated (default %(default)s)")
    p.add_argument("--advertise-address", default="", metavar="IP",
                   help="the address pods reach this API server at, listed in the default/kubernetes "
                        "Service's endpoints; it must be one --listen names (or --listen a wildcard). "
                        "Default: the --listen address when it is one specific non-loopback address")
    p.add_argument("--gateway-listen", default="0.0.0.0:7443",
                   help="node gateway (gRPC) address for agents (default %(default)s); with --pki-dir "
                        "agents must present a node certificate")
    p.add_argument("--gateway-join-listen", default="0.0.0.0:7444",
                   help="with --pki-dir: where new nodes join with a bootstrap token (TLS, no client "
                        "certificate; default %(default)s)")
    p.add_argument("--node-cert-lifetime", type=float, default=365 * 24 * 3600.0, metavar="SECONDS",
                   help="lifetime of node certificates the gateway signs (default one year); agents "
                        "renew with a third left")
    p.add_argument("--components", default="all",
                   help="all, or a comma-separated subset of: " + ",".join(COMPONENTS))
    p.add_argument("--components-process", choices=("child", "inline"), default="child",
                   help="child (default): the scheduler, controllers and gateway run in one child "
                        "process beside this one's API server, so the control plane uses two cores "
                        "(a Python process runs on one at a time); inline: all in this one process, "
                        "for debugging (one process to attach py-spy or a debugger to, one pid)")
    p.add_argument("--api-workers", type=int, default=1, metavar="N",
                   help="API server processes serving the --listen addresses, each with its own etcd "
                        "client and watch cache (default %(default)s). One process uses about one core; "
                        "more help only where cores are left beside etcd, the components and the "
                        "clients: on a 2-core machine keep 1")
    p.add_argument("--node-monitor-grace-period", type=float, default=40.0,
                   help="seconds without a node lease renewal before the node is NotReady "
                        "(default %(default)s)")
    p.add_argument("--pod-eviction-timeout", type=float, default=60.0,
                   help="seconds a node stays unreachable before its pods are deleted (default %(default)s)")
    p.add_argument("--leader-elect-lease-duration", type=float, default=15.0,
                   help="seconds a standby waits for a silent leader before taking over (default %(default)s)")
    p.add_argument("--cluster-cidr", default="10.244.0.0/16",
                   help="the pod network; each node gets a podCIDR from it (default %(default)s)")
    p.add_argument("--service-cluster-ip-range", default="10.96.0.0/16",
                   help="IPv4 CIDR Services' ClusterIPs are allocated from (default %(default)s)")
    p.add_argument("--service-node-port-range", default="30000-32767", metavar="FIRST-LAST",
                   help="ports NodePort and LoadBalancer Services' node ports are allocated from "
                        "(default %(default)s)")
    p.add_argument("--node-cidr-mask-size", type=int, default=24,
                   help="prefix length of each node's podCIDR (default %(default)s)")
    p.add_argument("--local-storage-class", default="local-path", metavar="NAME",
                   help="the StorageClass of the built-in local volume provisioner (pyctl.io/local-path), made "
                        "as the cluster's default class when absent (default %(default)s); '' makes none")
    p.add_argument("--compaction-interval", type=float, default=300.0,
                   help="seconds between etcd compactions (default %(default)s)")
    p.add_argument("--metric-resolution", type=float, default=15.0, metavar="SECONDS",
                   help="how often agents report resource usage for metrics.k8s.io (kubectl top, the "
                        "HorizontalPodAutoscaler), as metrics-server's flag; 0: never (default %(default)g)")
    hpa = p.add_argument_group("the HorizontalPodAutoscaler controller (kube-controller-manager's flags; "
                               "durations as 15s, 5m or seconds)")
    for flag, default, what in (
            ("sync-period", "15s", "how often each autoscaler is looked at"),
            ("downscale-stabilization", "5m", "how far back a scale-down looks for higher recommendations"),
            ("cpu-initialization-period", "5m", "after a pod starts, CPU samples count only once a whole "
                                                "window after it became ready"),
            ("initial-readiness-delay", "30s", "after a pod starts, readiness changes within this are "
                                               "taken as its first readiness")):
        hpa.add_argument(f"--horizontal-pod-autoscaler-{flag}", default=default, metavar="DURATION",
                         help=f"{what} (default %(default)s)")
    hpa.add_argument("--horizontal-pod-autoscaler-tolerance", type=float, default=0.1, metavar="RATIO",
                     help="no scaling while usage is within this ratio of the target (default %(default)g)")
    p.add_argument("--event-ttl", type=int, default=3600,
                   help="seconds an Event is kept (default %(default)s, one hour)")
    p.add_argument("--encryption-provider-config", metavar="FILE",
                   help="kube EncryptionConfiguration: resources sealed at rest in etcd (Secrets) "
                        "and their AES-GCM keys; keep it outside etcd's backups")
    sec = p.add_argument_group("security (all off by default: plain HTTP, everyone allowed)")
    sec.add_argument("--pki-dir", metavar="DIR",
                     help="cluster CA and certificates (e.g. /var/lib/pyctl/pki), created where missing; "
                          "implies HTTPS with client certificates verified against its CA")
    sec.add_argument("--tls-san", default="", metavar="NAMES",
                     help="comma-separated extra hostnames/IPs for a serving cert made in --pki-dir")
    sec.add_argument("--tls-cert-file", metavar="FILE", help="serving certificate (PEM): serve HTTPS only")
    sec.add_argument("--tls-private-key-file", metavar="FILE", help="the serving certificate's key")
    sec.add_argument("--client-ca-file", metavar="FILE",
                     help="CA bundle for client certificates (CN = user, O = groups)")
    sec.add_argument("--token-auth-file", metavar="FILE",
                     help='static bearer tokens, one per line: token,user,uid,"group1,group2"')
    sec.add_argument("--authorization-mode", choices=MODES, default="AlwaysAllow",
                     help="(default %(default)s)")
    sec.add_argument("--service-account-signing-key-file", metavar="FILE",
                     help="PEM private key (EC P-256) ServiceAccount tokens are signed with "
                          "(default with --pki-dir: its sa.key, made once)")
    sec.add_argument("--service-account-key-file", action="append", default=[], metavar="FILE",
                     help="more PEM keys tokens are checked against, e.g. a previous signing key (repeatable)")
    sec.add_argument("--service-account-issuer", default="https://kubernetes.default.svc.cluster.local",
                     help="the iss claim of the tokens signed and accepted (default %(default)s)")
    sec.add_argument("--api-audiences", default="", metavar="AUD[,AUD]",
                     help="what a token presented to the API must be for (default: the issuer)")
    sec.add_argument("--service-account-max-token-expiration", type=int, default=0, metavar="SECONDS",
                     help="cut longer TokenRequests to this (default 0: no limit)")
    sec.add_argument("--write-kubeconfig", metavar="PATH",
                     help="write an admin kubeconfig (needs --pki-dir) for this API server")
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    args = p.parse_args(argv)
    comps = COMPONENTS if args.components == "all" else tuple(c.strip() for c in args.components.split(","))
    unknown = [c for c in comps if c not in COMPONENTS]
    if unknown:
        p.error(f"unknown component(s): {', '.join(unknown)}; choose from {', '.join(COMPONENTS)}")
    if "apiserver" not in comps:
        p.error("--components must include apiserver: the other components reach state through "
                "this process's API server")
    args.components = comps
    if not 1 <= args.api_workers <= 64:
        p.error(f"--api-workers {args.api_workers}: must be between 1 and 64")
    try:
        args.listen_addresses = [split_hostport(a.strip(), 6443) for a in args.listen.split(",") if a.strip()]
        args.advertise = advertise(args.listen_addresses, args.advertise_address)
    except ValueError as exc:
        p.error(str(exc))
    try:
        parse_range(args.service_cluster_ip_range)
    except ValueError as exc:
        p.error(f"--service-cluster-ip-range: {exc}")
    try:
        parse_port_range(args.service_node_port_range)
    except ValueError as exc:
        p.error(f"--service-node-port-range: {exc}")
    try:
        CidrAllocator(args.cluster_cidr, args.node_cidr_mask_size)
    except ValueError as exc:
        p.error(f"--cluster-cidr {args.cluster_cidr} / --node-cidr-mask-size {args.node_cidr_mask_size}: {exc}")
    try:
        args.autoscaler = AutoscalerConfig(
            sync_period=parse_duration(args.horizontal_pod_autoscaler_sync_period),
            downscale_stabilization=parse_duration(args.horizontal_pod_autoscaler_downscale_stabilization),
            tolerance=args.horizontal_pod_autoscaler_tolerance,
            cpu_initialization_period=parse_duration(args.horizontal_pod_autoscaler_cpu_initialization_period),
            initial_readiness_delay=parse_duration(args.horizontal_pod_autoscaler_initial_readiness_delay))
    except ValueError as exc:
        p.error(f"--horizontal-pod-autoscaler-*: {exc}")
    if args.autoscaler.sync_period <= 0:
        p.error("--horizontal-pod-autoscaler-sync-period must be positive")
    if args.metric_resolution < 0:
        p.error(f"--metric-resolution {args.metric_resolution:g}: must be 0 (off) or a positive number of seconds")
    if args.node_cert_lifetime <= 0:
        p.error(f"--node-cert-lifetime {args.node_cert_lifetime:g}: must be a positive number of seconds")
    if args.write_kubeconfig and not args.pki_dir:
        p.error("--write-kubeconfig needs --pki-dir: the kubeconfig carries the admin's certificate from it")
    return args


def split_hostport(value: str, default_port: int) -> tuple[str, int]:
    host, _, port = value.rpartition(":")
    if not host:
        return value, default_port
    return host.strip("[]"), int(port)


def advertise(listen: list[tuple[str, int]], address: str) -> tuple[str, int] | None:
    """(IP, port) pods reach this API server at, or None; ValueError for an address not served.
    Without --advertise-address: the first specific, non-loopback IP among the --listen ones."""
    if not listen:
        raise ValueError("--listen: give at least one HOST:PORT")
    if not address:
        for host, port in listen:
            try:
                ip = ipaddress.ip_address(host)
            except ValueError:
                continue
            if not ip.is_loopback and not ip.is_unspecified:
                return host, port
        return None
    try:
        ipaddress.ip_address(address)
    except ValueError:
        raise ValueError(f"--advertise-address {address!r}: not an IP address") from None
    for host, port in listen:
        if host == address or host in ("0.0.0.0", "::", ""):
            return address, port
    listened = ",".join(f"{h}:{p}" for h, p in listen)
    raise ValueError(f"--advertise-address {address} is not an address the API server listens on "
                     f"(--listen {listened}); add it, e.g. --listen {listened},{address}:{listen[0][1]}")


def local_address(host: str) -> str:
    """Where this process reaches its own API server listening on `host`."""
    return "127.0.0.1" if host in ("0.0.0.0", "::", "") else host


def gateway_config(args: argparse.Namespace, secured: Secured) -> GatewayConfig:
    """Mutual TLS and joins when the control plane has a PKI; else the insecure gateway."""
    tls = None if secured.pki is None else GatewayTls.from_pki(secured.pki, args.node_cert_lifetime)
    return GatewayConfig(cluster_cidr=args.cluster_cidr, tls=tls, join_listen=args.gateway_join_listen,
                         service_cidr=args.service_cluster_ip_range, metrics_period=args.metric_resolution)


def components_config(args: argparse.Namespace, secured: Secured) -> ComponentsConfig:
    """The scheduler's, controllers' and gateway's settings from the flags (both layouts)."""
    lease = args.leader_elect_lease_duration
    managers = ManagerConfig(node_grace=args.node_monitor_grace_period,
                             eviction_timeout=args.pod_eviction_timeout, lease_duration=lease,
                             renew_deadline=lease * 2 / 3, retry_period=max(lease / 7.5, 0.2),
                             cluster_cidr=args.cluster_cidr, node_cidr_mask=args.node_cidr_mask_size,
                             local_storage_class=args.local_storage_class,
                             root_ca_file=str(secured.pki.ca_cert) if secured.pki is not None else "",
                             autoscaler=args.autoscaler)
    return ComponentsConfig(controllers=managers, gateway_listen=args.gateway_listen,
                            gateway=gateway_config(args, secured))


async def start_components(args: argparse.Namespace, secured: Secured, api_url: str
                           ) -> Running | ComponentsProcess:
    """The components asked for, in the child process or inline; either has `await stop()`."""
    wanted = set(args.components) - {"apiserver"}
    config = components_config(args, secured)
    credentials.register(api_url, secured.loopback)  # in-process components present it
    if args.components_process == "inline" or not wanted:
        return await run_components(api_url, wanted, config)
    process = ComponentsProcess(ChildSpec(api_url, frozenset(wanted), config, secured.loopback, args.verbose))
    await process.start()
    return process


async def _inline_metrics() -> bytes:
    return exposition.render(exposition.COMPONENTS)


async def serve(args: argparse.Namespace, secured: Secured, listen: list[tuple[str, int]]) -> int:
    link, sockets, workers = None, [], None
    if args.api_workers > 1:
        try:
            sockets = listen_sockets(listen)  # bound here, shared with the workers
        except OSError as exc:
            logging.error("cannot listen on %s: %s", args.listen, exc)
            return 1
        link = WorkerLink(0, args.api_workers, written.create(args.api_workers),
                          worker_directory())  # 0700: the workers' private sockets
    app = build_app(secured.config, link)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    loop_name = type(asyncio.get_running_loop()).__module__.split(".")[0]
    if sockets:
        for sock in sockets:
            await web.SockSite(runner, sock, ssl_context=secured.ssl).start()
    else:
        for host, port in listen:
            await web.TCPSite(runner, host, port, ssl_context=secured.ssl).start()
    for host, port in listen:
        logging.info("API server listening on %s://%s:%d (event loop: %s, %d process%s)", secured.scheme, host,
                     port, loop_name, args.api_workers, "es" if args.api_workers > 1 else "")
    host, port = listen[0]
    api_url = f"{secured.scheme}://{local_address(host)}:{port}"
    try:
        if link is not None:
            workers = ApiWorkers(secured.config, link, sockets, args.verbose)
            await workers.start()
        running = await start_components(args, secured, api_url)
    except (ComponentsFailed, WorkersFailed) as exc:
        logging.error("%s", exc)
        if workers is not None:
            await workers.stop()
        await runner.cleanup()
        _remove(link)
        return 1
    # One /metrics for the whole control plane: the components' families follow the API server's.
    if set(args.components) - {"apiserver"}:
        api_metrics.set_components_source(
            app, running.metrics if isinstance(running, ComponentsProcess) else _inline_metrics)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await running.stop()  # first, so leases are handed back while this API server still answers
        if workers is not None:
            await workers.stop()
        await runner.cleanup()
        _remove(link)
    return 0


def _remove(link: WorkerLink | None) -> None:
    if link is not None:
        shutil.rmtree(link.directory, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    config = ApiConfig(etcd_servers=tuple(s.strip() for s in args.etcd_servers.split(",") if s.strip()),
                       compaction_interval=args.compaction_interval, event_ttl=args.event_ttl,
                       encryption_provider_config=args.encryption_provider_config,
                       tls_cert_file=args.tls_cert_file, tls_private_key_file=args.tls_private_key_file,
                       client_ca_file=args.client_ca_file, token_auth_file=args.token_auth_file,
                       authorization_mode=args.authorization_mode,
                       service_cluster_ip_range=args.service_cluster_ip_range,
                       service_node_port_range=args.service_node_port_range,
                       service_account_signing_key_file=args.service_account_signing_key_file,
                       service_account_key_files=tuple(args.service_account_key_file),
                       service_account_issuer=args.service_account_issuer,
                       api_audiences=tuple(a.strip() for a in args.api_audiences.split(",") if a.strip()),
                       service_account_max_token_expiration=args.service_account_max_token_expiration,
                       advertise_address=args.advertise[0] if args.advertise else "",
                       advertise_port=args.advertise[1] if args.advertise else 0)
    host, port = args.listen_addresses[0]
    # The serving cert names every address served, and the kubernetes Service's, for pods.
    hosts = tuple(h.strip() for h in args.tls_san.split(",") if h.strip()) + tuple(
        local_address(h) for h, _ in args.listen_addresses) + (first_ip(args.service_cluster_ip_range),)
    try:
        secured = secure(config, args.pki_dir, hosts)
        if args.token_auth_file:
            load_token_file(args.token_auth_file)  # a bad line is reported now, not at the first request
        if args.encryption_provider_config:
            encryption.load(args.encryption_provider_config)  # a bad key stops the start here
    except (OSError, ValueError, ssl.SSLError) as exc:
        print(f"pyctl-controlplane: error: {exc}", file=sys.stderr)
        return 1
    if secured.ssl is None and args.token_auth_file:
        logging.warning("--token-auth-file without TLS: bearer tokens cross the network in clear text")
    if args.write_kubeconfig and secured.pki is not None:
        write_kubeconfig(args.write_kubeconfig,
                         admin_kubeconfig(f"https://{local_address(host)}:{port}", secured.pki))
        logging.info("wrote the admin kubeconfig to %s", args.write_kubeconfig)
    if secured.pki is not None:
        missing = missing_sans(secured.pki.serving_cert.read_bytes(), hosts)
        if missing:
            logging.warning("the serving certificate %s does not name %s (made before they were needed): "
                            "clients reaching the API there fail verification; move it and its key away "
                            "and restart to have it re-issued", secured.pki.serving_cert, ", ".join(missing))
    return eventloop.run(serve(args, secured, args.listen_addresses))


if __name__ == "__main__":
    sys.exit(main())
