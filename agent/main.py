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
    p.add_argument("--pod-cidr", default="10.244.1.0/24", help="this node's pod CIDR (runc runtime; default %(default)s)")
    p.add_argument("--cluster-cidr", default="",
                   help="the whole cluster's pod CIDR, routed via the bridge inside pods (runc runtime)")
    p.add_argument("--bridge", default="pyctl0", help="the CNI bridge (runc runtime; default %(default)s)")
    p.add_argument("--registry-auth", default="/etc/pyctl/auth.json",
                   help="registry credentials, Docker config.json format (default %(default)s)")
    p.add_argument("--agent-listen", default="0.0.0.0:10250",
                   help="where the agent serves logs and exec to the API server, HOST:PORT "
                        "(default %(default)s, the kubelet's port)")
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
    host_ip = args.node_ip or detect_ip(args.server)
    if args.runtime == "hollow":
        from .hollow import hollow_agent

        await hollow_agent(args.server, args.node_name, host_ip=host_ip, listen=args.agent_listen).run()
        return 0
    from pathlib import Path

    from .images import ImageStore, RegistryClient
    from .network.cni import NetworkConfig
    from .node import Agent
    from .nodeinfo import local_registration
    from .runtime.runc import RuncRuntime

    state = Path(args.state_dir)
    images = ImageStore(state / "images", RegistryClient(auth_file=args.registry_auth))

    async def rootfs_for(image: str) -> tuple[list[str], dict]:
        img = await images.ensure(image)
        c = img.config
        return list(img.lowerdirs), {"Entrypoint": c.entrypoint, "Cmd": c.cmd, "Env": c.env,
                                     "WorkingDir": c.working_dir, "User": c.user}

    net = NetworkConfig(pod_cidr=args.pod_cidr, bridge=args.bridge, data_dir=state / "cni",
                        routes=(args.cluster_cidr,) if args.cluster_cidr else ())
    runtime = RuncRuntime(state / "runtime", net, rootfs_for)
    agent = Agent(args.server, local_registration(args.node_name, runtime.version, host_ip), runtime,
                  host_ip=host_ip, listen=args.agent_listen)
    try:
        await agent.run()
    finally:
        await images.close()
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
