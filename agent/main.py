"""pyctl-agent: run the node agent for one node."""

from __future__ import annotations

import argparse
import asyncio
import logging
import socket
import sys

EXAMPLES = """\
examples:
  # a simulated node (nothing runs; for tests and scale benchmarks)
  pyctl-agent --server 127.0.0.1:7443 --node-name hollow-1 --runtime hollow

  # a real worker (runc + conmon), state kept across restarts
  pyctl-agent --server 10.0.0.1:7443 --node-name worker-1 --state-dir /var/lib/pyctl-agent
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
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    args = p.parse_args(argv)
    if ":" not in args.server:
        args.server += ":7443"
    return args


def detect_ip(server: str) -> str:
    """The local address the kernel would use to reach the server (no packet is sent)."""
    host, _, port = server.rpartition(":")
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.connect((host.strip("[]"), int(port)))
            return s.getsockname()[0]
    except OSError:
        return "127.0.0.1"


async def run(args: argparse.Namespace) -> int:
    from .hollow import hollow_agent

    if args.runtime == "runc":
        logging.error("the runc runtime is not available yet; use --runtime hollow")
        return 2
    host_ip = args.node_ip or detect_ip(args.server)
    agent = hollow_agent(args.server, args.node_name, host_ip=host_ip)
    await agent.run()
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        return asyncio.run(run(args))
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
