"""pyctl-controlplane: the API server, scheduler, controllers and node gateway in one process.

Several may run against one etcd: API servers are stateless, the gateway serves whichever
agents dial it, and the scheduler and controllers act only while their process holds
their Lease (leader election through the API).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys

from aiohttp import web

from .api.app import ApiConfig, build_app
from .components import ComponentsConfig, run_components
from .controllers.manager import ManagerConfig

EXAMPLES = """\
examples:
  # a control plane on a local etcd
  pyctl-controlplane --etcd-servers http://127.0.0.1:2379

  # listen on another address, against a 3-member etcd cluster
  pyctl-controlplane --etcd-servers http://10.0.0.1:2379,http://10.0.0.2:2379,http://10.0.0.3:2379 \\
      --listen 0.0.0.0:6443

  # only the API server and the node gateway (scheduler and controllers run elsewhere)
  pyctl-controlplane --etcd-servers http://127.0.0.1:2379 --components apiserver,gateway
"""

COMPONENTS = ("apiserver", "scheduler", "controllers", "gateway")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="pyctl-controlplane", epilog=EXAMPLES,
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                description="Run the pyctl control plane against etcd.")
    p.add_argument("--etcd-servers", required=True,
                   help="comma-separated etcd client URLs, e.g. http://127.0.0.1:2379")
    p.add_argument("--listen", default="127.0.0.1:6443", help="API server address (default %(default)s)")
    p.add_argument("--gateway-listen", default="0.0.0.0:7443",
                   help="node gateway (gRPC) address for agents (default %(default)s)")
    p.add_argument("--components", default="all",
                   help="all, or a comma-separated subset of: " + ",".join(COMPONENTS))
    p.add_argument("--node-monitor-grace-period", type=float, default=40.0,
                   help="seconds without a node lease renewal before the node is NotReady "
                        "(default %(default)s)")
    p.add_argument("--pod-eviction-timeout", type=float, default=60.0,
                   help="seconds a node stays unreachable before its pods are deleted (default %(default)s)")
    p.add_argument("--leader-elect-lease-duration", type=float, default=15.0,
                   help="seconds a standby waits for a silent leader before taking over (default %(default)s)")
    p.add_argument("--compaction-interval", type=float, default=300.0,
                   help="seconds between etcd compactions (default %(default)s)")
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
    return args


def split_hostport(value: str, default_port: int) -> tuple[str, int]:
    host, _, port = value.rpartition(":")
    if not host:
        return value, default_port
    return host.strip("[]"), int(port)


async def serve(args: argparse.Namespace, config: ApiConfig, host: str, port: int) -> None:
    runner = web.AppRunner(build_app(config), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    logging.info("API server listening on %s:%d", host, port)
    local = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
    lease = args.leader_elect_lease_duration
    managers = ManagerConfig(node_grace=args.node_monitor_grace_period,
                             eviction_timeout=args.pod_eviction_timeout, lease_duration=lease,
                             renew_deadline=lease * 2 / 3, retry_period=max(lease / 7.5, 0.2))
    running = await run_components(f"http://{local}:{port}", set(args.components) - {"apiserver"},
                                   ComponentsConfig(controllers=managers, gateway_listen=args.gateway_listen))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await running.stop()  # first, so leases are handed back while this API server still answers
        await runner.cleanup()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    config = ApiConfig(etcd_servers=tuple(s.strip() for s in args.etcd_servers.split(",") if s.strip()),
                       compaction_interval=args.compaction_interval)
    host, port = split_hostport(args.listen, 6443)
    asyncio.run(serve(args, config, host, port))
    return 0


if __name__ == "__main__":
    sys.exit(main())
