"""pyctl-controlplane: the API server (and, as they land, scheduler, controllers, gateway)."""

from __future__ import annotations

import argparse
import logging
import sys

from aiohttp import web

from .api.app import ApiConfig, build_app
from .controllers.node_lifecycle import NodeLifecycleConfig, run_node_lifecycle
from .gateway import start_gateway

EXAMPLES = """\
examples:
  # a control plane on a local etcd
  pyctl-controlplane --etcd-servers http://127.0.0.1:2379

  # listen on another address, against a 3-member etcd cluster
  pyctl-controlplane --etcd-servers http://10.0.0.1:2379,http://10.0.0.2:2379,http://10.0.0.3:2379 \\
      --listen 0.0.0.0:6443
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
    p.add_argument("--compaction-interval", type=float, default=300.0,
                   help="seconds between etcd compactions (default %(default)s)")
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    args = p.parse_args(argv)
    comps = COMPONENTS if args.components == "all" else tuple(c.strip() for c in args.components.split(","))
    unknown = [c for c in comps if c not in COMPONENTS]
    if unknown:
        p.error(f"unknown component(s): {', '.join(unknown)}; choose from {', '.join(COMPONENTS)}")
    args.components = comps
    return args


def split_hostport(value: str, default_port: int) -> tuple[str, int]:
    host, _, port = value.rpartition(":")
    if not host:
        return value, default_port
    return host.strip("[]"), int(port)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    config = ApiConfig(etcd_servers=tuple(s.strip() for s in args.etcd_servers.split(",") if s.strip()),
                       compaction_interval=args.compaction_interval)
    host, port = split_hostport(args.listen, 6443)
    app = build_app(config)
    # In-process components reach state through the API like any other client.
    api_url = f"http://{'127.0.0.1' if host in ('0.0.0.0', '::', '') else host}:{port}"

    async def node_components(app: web.Application):
        gateway = await start_gateway(api_url, args.gateway_listen) if "gateway" in args.components else None
        lifecycle = None
        if "controllers" in args.components:
            lifecycle = await run_node_lifecycle(api_url, NodeLifecycleConfig(
                grace_period=args.node_monitor_grace_period, eviction_timeout=args.pod_eviction_timeout))
        yield
        if lifecycle:
            await lifecycle.stop()
        if gateway:
            await gateway.stop()

    app.cleanup_ctx.append(node_components)
    web.run_app(app, host=host, port=port, print=lambda msg: logging.info("API server listening on %s:%d", host, port),
                access_log=None, handle_signals=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
