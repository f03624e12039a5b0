"""pyctl-agent: run the node agent for one node."""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import logging
import os
import socket
import sys
from dataclasses import replace
from typing import TYPE_CHECKING, Callable

if TYPE_CHECKING:
    from .network.cni import NetworkConfig
    from .runtime.runc import RuncRuntime

from .nodeinfo import parse_reserved
from .runtime.bundle import quantity

EXAMPLES = """\
examples:
  # a simulated node (nothing runs; for tests and scale benchmarks)
  pyctl-agent --server 127.0.0.1:7443 --node-name hollow-1 --runtime hollow

  # a real worker (runc + conmon), state kept across restarts
  pyctl-agent --server 10.0.0.1:7443 --node-name worker-1 --state-dir /var/lib/pyctl-agent

  # local volumes on a data disk, at most 500Gi of it
  pyctl-agent --server 10.0.0.1:7443 --volume-dir /srv/pyctl-volumes --volume-capacity 500Gi

  # load images on an air-gapped node (an OCI archive); see `pyctl-agent images --help`
  pyctl-agent images import app.tar --state-dir /var/lib/pyctl-agent

  # join a secured cluster (pyctl-controlplane --pki-dir) with a token from `pyctl token create`;
  # later starts use the node certificate kept in --state-dir and need no token
  pyctl-agent --server 10.0.0.1:7443 --token abcdef.0123456789abcdef \\
      --ca-cert-hash sha256:<hex printed by pyctl token create>
"""


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="pyctl-agent", epilog=EXAMPLES,
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                description="Run pods assigned to this node by the pyctl control plane.")
    p.add_argument("--server", required=True, help="the control plane's node gateway, HOST:PORT (port 7443)")
    p.add_argument("--node-name", default=socket.gethostname().lower(),
                   help="this node's name (default: the host name)")
    p.add_argument("--runtime", choices=("runc", "hollow"), default="runc",
                   help="container runtime (default %(default)s); hollow simulates containers")
    p.add_argument("--state-dir", default="/var/lib/pyctl-agent", help="agent state (default %(default)s)")
    p.add_argument("--node-ip", default="", help="the address to report (default: the one that reaches --server)")
    p.add_argument("--pod-cidr", default="",
                   help="this node's pod CIDR (runc runtime; default: the one the control plane gives the Node)")
    p.add_argument("--cluster-cidr", default="",
                   help="the whole cluster's pod CIDR, routed via the bridge inside pods "
                        "(runc runtime; default: the control plane's)")
    p.add_argument("--no-cluster-dns", dest="cluster_dns", action="store_false",
                   help="serve no cluster DNS on the pod bridge address (needs --pod-cidr; runc runtime)")
    p.add_argument("--no-service-proxy", dest="service_proxy", action="store_false",
                   help="do not program iptables NAT for Service ClusterIPs (runc runtime)")
    ing = p.add_argument_group("ingress proxy (HAProxy serving the cluster's Ingresses on this node)")
    ing.add_argument("--no-ingress-proxy", dest="ingress_proxy", action="store_false",
                     help="run no ingress proxy on this node (it then gets no Ingress traffic)")
    ing.add_argument("--ingress-http-port", type=int, default=80, metavar="PORT",
                     help="where the ingress proxy serves HTTP (default %(default)s)")
    ing.add_argument("--ingress-https-port", type=int, default=443, metavar="PORT",
                     help="where it serves HTTPS (default %(default)s)")
    ing.add_argument("--ingress-address", default="", metavar="IP",
                     help="listen on this address only (default: every address of the node)")
    p.add_argument("--no-network-policy", dest="network_policy", action="store_false",
                   help="do not enforce NetworkPolicies with iptables filter rules (runc runtime)")
    p.add_argument("--no-routes", dest="routes", action="store_false",
                   help="do not program routes to the other nodes' pod CIDRs (runc runtime)")
    p.add_argument("--bridge", default="pyctl0", help="the CNI bridge (runc runtime; default %(default)s)")
    p.add_argument("--registry-auth", default="/etc/pyctl/auth.json",
                   help="registry credentials, Docker config.json format (default %(default)s)")
    p.add_argument("--registry-mirror", action="append", default=[], metavar="HOST=URL",
                   help="pull images named HOST/... from URL instead, e.g. "
                        "localhost:5000=http://172.30.1.1:5000 (repeatable)")
    p.add_argument("--cgroup-parent", default="pyctl",
                   help="cgroup (v1, every controller) under which pods are created (default %(default)s)")
    p.add_argument("--system-reserved", default="cpu=100m,memory=256Mi", metavar="cpu=Q,memory=Q",
                   help="kept from pods for the OS and the agent: allocatable = capacity - this "
                        "(runc runtime; default %(default)s)")
    vol = p.add_argument_group("local volumes (the built-in provisioner pyctl.io/local-path)")
    vol.add_argument("--volume-dir", default=None, metavar="DIR",
                     help="where this node keeps local PersistentVolumes (default: --state-dir/volumes); "
                          "'' keeps none")
    vol.add_argument("--volume-capacity", default="", metavar="QUANTITY",
                     help="what local volumes may take there in all, e.g. 200Gi (default: 90%% of the free "
                          "space of --volume-dir's filesystem, plus the volumes already there)")
    vol.add_argument("--volume-enforcement", choices=("auto", "loop", "none"), default="auto",
                     help="how a volume's size is enforced: loop (an ext4 image per volume, loop-mounted: "
                          "needs root and loop devices), none (sizes only recorded), auto (default: loop "
                          "where it can be)")
    p.add_argument("--agent-listen", default="0.0.0.0:10250",
                   help="where the agent serves logs and exec to the API server, HOST:PORT "
                        "(default %(default)s, the kubelet's port)")
    p.add_argument("--metrics-listen", default="127.0.0.1:10255", metavar="HOST:PORT",
                   help="serve Prometheus metrics (plain HTTP, no authentication) on /metrics here; "
                        "loopback by default; '' to serve none (default %(default)s)")
    sec = p.add_argument_group("joining a secured control plane (see `pyctl token create`)")
    sec.add_argument("--token", default="", help="a bootstrap token: trade it for this node's "
                     "certificate (kept in --state-dir/pki) on the first start; not needed again")
    sec.add_argument("--ca-cert-hash", default="", metavar="sha256:HEX",
                     help="pin the cluster CA by the SHA-256 of its public key (as kubeadm)")
    sec.add_argument("--ca-file", default="", metavar="FILE", help="or trust this cluster CA (PEM)")
    sec.add_argument("--join-server", default="", metavar="HOST:PORT",
                     help="the gateway's join port (default: --server's host, port 7444)")
    sec.add_argument("--join-timeout", type=float, default=300.0, metavar="SECONDS",
                     help="how long to keep retrying while the join port does not answer, e.g. while the "
                     "control plane is still starting (default %(default)g, as kubeadm join's discovery)")
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    args = p.parse_args(argv)
    check_join_flags(p, args)
    args.registry_mirror = dict(parse_mirror(p, m) for m in args.registry_mirror)
    try:
        args.system_reserved = parse_reserved(args.system_reserved)
    except ValueError as exc:
        p.error(f"--system-reserved: {exc}")
    if args.volume_capacity:
        try:
            args.volume_capacity = int(quantity(args.volume_capacity))
        except ValueError as exc:
            p.error(f"--volume-capacity: {exc}")
        if args.volume_capacity <= 0:
            p.error("--volume-capacity: must be a positive quantity, e.g. 200Gi")
    else:
        args.volume_capacity = None
    if args.volume_dir is None:
        args.volume_dir = os.path.join(args.state_dir, "volumes")
    if ":" not in args.server:
        args.server += ":7443"
    for flag, port in (("--ingress-http-port", args.ingress_http_port), ("--ingress-https-port",
                                                                         args.ingress_https_port)):
        if not 1 <= port <= 65535:
            p.error(f"{flag} {port}: must be between 1 and 65535")
    if args.ingress_http_port == args.ingress_https_port:
        p.error("--ingress-http-port and --ingress-https-port must differ")
    if args.ingress_address:
        try:
            ipaddress.IPv4Address(args.ingress_address)
        except ValueError as exc:
            p.error(f"--ingress-address: {exc}")
    for flag, value in (("--pod-cidr", args.pod_cidr), ("--cluster-cidr", args.cluster_cidr)):
        try:
            if value:
                ipaddress.ip_network(value)
        except ValueError as exc:
            p.error(f"{flag}: {exc}")
    return args


def check_join_flags(p: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    from .credentials import join_flag_error

    if not args.token:
        return
    problem = join_flag_error(args.token, args.ca_cert_hash)
    if problem:
        p.error(problem)
    args.ca_cert_hash = args.ca_cert_hash.lower()
    if bool(args.ca_cert_hash) == bool(args.ca_file):
        p.error("--token needs one of --ca-cert-hash or --ca-file: how to trust the control plane")
    if not args.join_server:
        args.join_server = args.server.rpartition(":")[0] + ":7444"


def parse_mirror(p: argparse.ArgumentParser, value: str) -> tuple[str, str]:
    host, sep, url = value.partition("=")
    if not sep or not host or not url.startswith(("http://", "https://")):
        p.error(f"--registry-mirror {value!r}: expected HOST=http(s)://ENDPOINT")
    return host, url


def pod_network_setter(runtime: RuncRuntime, net: NetworkConfig,
                       cluster_cidr: str = "") -> Callable[[str, str], None]:
    """What the agent calls with (podCIDR, cluster CIDR) once the control plane gave them: the
    runtime's CNI chain then allocates from that podCIDR and routes the cluster CIDR (our
    --cluster-cidr if given, else the control plane's) via the bridge inside pods. It runs
    before any pod starts, as the session holds assignments until the podCIDR is known."""
    from .network.cni import Cni

    def use(pod_cidr: str, server_cluster_cidr: str) -> None:
        cluster = cluster_cidr or server_cluster_cidr
        learned = tuple(r for r in runtime.cni.config.routes if r not in net.routes and r != cluster)
        runtime.cni = Cni(replace(net, pod_cidr=pod_cidr, routes=((cluster,) if cluster else ()) + learned))
    return use


def service_route_setter(runtime: RuncRuntime) -> Callable[[str], None]:
    """What the agent calls with the service CIDR from the ServiceTable: pods then route it via
    the bridge too, to this node's service proxy (pods started before keep their routes)."""
    from .network.cni import Cni

    def use(service_cidr: str) -> None:
        config = runtime.cni.config
        if service_cidr not in config.routes:
            runtime.cni = Cni(replace(config, routes=config.routes + (service_cidr,)))
    return use


def ingress_proxy(args: argparse.Namespace, state_dir: str):  # -> IngressProxy | None
    """The node's ingress proxy, unless turned off or HAProxy is not installed (then said)."""
    from pathlib import Path

    from .ingress.config import Settings
    from .ingress.proxy import IngressProxy

    if not args.ingress_proxy:
        return None
    if not IngressProxy.available():
        logging.warning("haproxy is not installed: this node serves no Ingress (deploy/install.sh installs it)")
        return None
    return IngressProxy(Path(state_dir) / "ingress", Settings(http_port=args.ingress_http_port,
                                                             https_port=args.ingress_https_port,
                                                             address=args.ingress_address))


def detect_ip(server: str) -> str:
    """The local address the kernel would use to reach the server (no packet is sent)."""
    host, _, port = server.rpartition(":")
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.connect((host.strip("[]"), int(port)))
            return s.getsockname()[0]
    except OSError:
        return "127.0.0.1"


async def node_credentials(args: argparse.Namespace):  # -> NodeCredentials | None
    """This node's certificate from --state-dir, joining first with --token if there is none."""
    from pathlib import Path

    from .credentials import JoinUnreachable, NodeCredentials, fetch_ca, join

    creds = NodeCredentials(Path(args.state_dir) / "pki")
    if creds.exists():
        if args.token:
            logging.info("using the node certificate in %s; --token is not needed again", creds.directory)
        return creds
    if not args.token:
        return None  # an insecure gateway
    loop = asyncio.get_running_loop()
    deadline, delay = loop.time() + args.join_timeout, 0.5
    while True:
        try:
            ca = (Path(args.ca_file).read_bytes() if args.ca_file
                  else await asyncio.to_thread(fetch_ca, args.join_server, args.ca_cert_hash))
            await join(args.join_server, args.token, args.node_name, ca, creds)
            return creds
        except JoinUnreachable as exc:  # a wrong token or CA fails at once; a starting gateway is waited for
            left = deadline - loop.time()
            if left <= delay:
                raise
            logging.warning("%s; retrying for up to %.0fs more (--join-timeout)", exc, left)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)


def private_state_dir(path: str) -> None:
    """--state-dir, root only (as install.sh makes it): pods' Secret volumes, the node's key
    and the images lie below, and no local user may reach them."""
    os.makedirs(path, mode=0o700, exist_ok=True)
    os.chmod(path, 0o700)


async def run(args: argparse.Namespace) -> int:
    from .credentials import JoinError

    host_ip = args.node_ip or detect_ip(args.server)
    try:
        creds = await node_credentials(args)
    except (JoinError, OSError) as exc:
        print(f"pyctl-agent: error: {exc}", file=sys.stderr)
        return 1
    if args.runtime == "hollow":
        from .hollow import hollow_agent

        await hollow_agent(args.server, args.node_name, host_ip=host_ip, listen=args.agent_listen,
                           credentials=creds, metrics_listen=args.metrics_listen,
                           **({"volume_capacity": args.volume_capacity} if args.volume_capacity else {})).run()
        return 0
    from pathlib import Path

    from .images import ImageStore, RegistryClient
    from .network.cni import NetworkConfig
    from .network.dns import DnsServer
    from .network.netpol import PolicyEnforcer
    from .network.routes import HostRoutes
    from .network.serviceproxy import ServiceProxy
    from .node import Agent
    from .nodeinfo import local_registration
    from .runtime.runc import RuncRuntime
    from .volumes.local import LocalVolumes

    private_state_dir(args.state_dir)
    try:
        volumes = LocalVolumes(args.volume_dir, capacity=args.volume_capacity,
                               enforcement=args.volume_enforcement) if args.volume_dir else None
    except (OSError, ValueError) as exc:
        print(f"pyctl-agent: error: --volume-dir {args.volume_dir}: {exc}", file=sys.stderr)
        return 1
    state = Path(args.state_dir)
    images = ImageStore(state / "images", RegistryClient(auth_file=args.registry_auth,
                                                                  mirrors=args.registry_mirror))

    net = NetworkConfig(pod_cidr=args.pod_cidr, bridge=args.bridge, data_dir=state / "cni",
                        routes=(args.cluster_cidr,) if args.cluster_cidr else ())
    runtime = RuncRuntime(state / "runtime", net, images.rootfs, cgroup_parent=args.cgroup_parent)
    # Cluster DNS listens on the pod bridge's gateway address: known now only with --pod-cidr.
    dns = DnsServer(str(ipaddress.ip_network(args.pod_cidr)[1])) if args.pod_cidr and args.cluster_dns else None
    if dns is not None:
        runtime.cluster_dns = dns.address

    agent = Agent(args.server, local_registration(args.node_name, runtime.version, host_ip,
                                                      reserved=args.system_reserved), runtime,
                  host_ip=host_ip, listen=args.agent_listen, pod_cidr=args.pod_cidr,
                  learn_pod_cidr=not args.pod_cidr,
                  on_pod_cidr=None if args.pod_cidr else pod_network_setter(runtime, net, args.cluster_cidr),
                  routes=HostRoutes() if args.routes else None, credentials=creds,
                  service_proxy=ServiceProxy() if args.service_proxy else None,
                  on_service_cidr=service_route_setter(runtime), dns=dns, local_volumes=volumes,
                  ingress=ingress_proxy(args, args.state_dir),
                  network_policy=PolicyEnforcer(args.node_name) if args.network_policy else None,
                  metrics_listen=args.metrics_listen)
    try:
        await agent.run()
    finally:
        await images.close()
    return 0


def watch_children_by_pidfd() -> None:
    """Wait for child processes (conmon, CNI plugins, ...) through pidfds on the event loop
    instead of one thread per child, as Python 3.12 does by itself: a pod's start spawns
    several, and each waiting thread cost 0.2-0.4 ms of CPU more (0.53-0.75 against
    0.32-0.34 ms a spawn, measured). Kernels without pidfd_open (< 5.3) keep the threads."""
    if sys.version_info >= (3, 12):
        return
    try:
        os.close(os.pidfd_open(os.getpid()))
    except (AttributeError, OSError):
        return
    asyncio.set_child_watcher(asyncio.PidfdChildWatcher())


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["images"]:  # `pyctl-agent images import|list`: the node's image store
        from .imagecmd import main as images_main
        return images_main(argv[1:])
    args = parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    watch_children_by_pidfd()
    try:
        return asyncio.run(run(args))
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
