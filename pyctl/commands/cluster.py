"""`pyctl cluster up|down|status`: a whole cluster on this machine, one network namespace per
node (DESIGN §6). The work is done by `pyctl.localcluster`; this module is the verb."""

from __future__ import annotations

import argparse

from ..errors import UsageError
from ..session import Session
from ..tabwriter import align
from . import Command, add_subcommand, duration, register

VERBS = ("up", "down", "status")
EXAMPLES = """\
# Start (or finish starting) a 3-node cluster named "pyctl", as root
sudo pyctl cluster up --nodes 3

# A second cluster beside it, with quick node failure detection
sudo pyctl cluster up --name dev --nodes 2 --node-monitor-grace-period 20s --pod-eviction-timeout 10s

# Plain HTTP and no authentication, for debugging only (decided when the cluster is created)
sudo pyctl cluster up --name plain --nodes 1 --insecure

# What runs, where, how often each process was restarted and why it last exited, which
# nodes are Ready, and what security is on
pyctl cluster status --name dev

# Remove everything the cluster made: processes, containers, namespaces, bridge, routes, state
sudo pyctl cluster down --name dev
"""


def configure(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="cluster_verb", metavar="SUBCOMMAND", prog=p.prog)
    up = add_subcommand(sub, "up", summary="Create or complete a local cluster (root)",
                        examples_text="sudo pyctl cluster up --nodes 3")
    up.add_argument("--nodes", type=int, default=3, help="how many nodes (default %(default)s)")
    up.add_argument("--wait", type=duration, default=180.0, metavar="DURATION",
                    help="how long to wait for the nodes to be Ready (default 3m)")
    up.add_argument("--node-monitor-grace-period", type=duration, metavar="DURATION",
                    help="control plane: silence before a node is NotReady (default 40s; keep it "
                         "above the 10s node lease renewal)")
    up.add_argument("--pod-eviction-timeout", type=duration, metavar="DURATION",
                    help="control plane: NotReady time before a node's pods are replaced (default 60s)")
    up.add_argument("--insecure", action="store_true",
                    help="DEBUGGING ONLY, when the cluster is created: plain HTTP, no authentication "
                         "or RBAC, nodes join without a token, Secrets stored in clear (default: "
                         "TLS with a cluster CA, RBAC, token join, Secrets encrypted)")
    down = add_subcommand(sub, "down", summary="Delete a local cluster and everything it made (root)",
                          examples_text="sudo pyctl cluster down --name dev")
    status = add_subcommand(sub, "status", summary="Show a local cluster's processes (restarts, last "
                                                    "exit) and nodes",
                            examples_text="pyctl cluster status")
    for q in (up, down, status):
        q.add_argument("--name", default="pyctl", help="the cluster's name (default %(default)s)")


def run(s: Session, a: argparse.Namespace) -> int:
    from ..localcluster import launcher, security, state

    verb = a.cluster_verb
    if verb is None:
        raise UsageError(f"a sub-command is required: {', '.join(VERBS)}", "cluster")
    name = state.check_name(a.name)
    kubeconfig = getattr(a, "kubeconfig", None)
    if verb == "up":
        extra = []
        if a.node_monitor_grace_period is not None:
            extra += ["--node-monitor-grace-period", str(a.node_monitor_grace_period)]
        if a.pod_eviction_timeout is not None:
            extra += ["--pod-eviction-timeout", str(a.pod_eviction_timeout)]
        launcher.up(name, a.nodes, extra, s.out, kubeconfig=kubeconfig, wait=a.wait, insecure=a.insecure)
        return 0
    if verb == "down":
        if not launcher.down(name, s.out, kubeconfig=kubeconfig):
            s.out.write(f"no cluster named {name!r}; nothing to do\n")
        return 0
    c, rows, nodes = launcher.status(name)
    s.out.write(f"cluster {c.name}: API {c.api_url}, bridge {c.bridge} {c.subnet}, pods {c.cluster_cidr}\n"
                f"{security.describe(c)}\n\n")
    s.out.write(_table([("COMPONENT", "PID", "ADDRESS", "STATUS", "RESTARTS", "LAST EXIT"),
                        *((r.name, str(r.pid or "-"), r.address, r.status,
                           "-" if r.restarts is None else str(r.restarts), r.last_exit)
                          for r in rows)]) + "\n")
    if rows[0].pid is None:
        s.warn(f"the supervisor is not running, so nothing restarts a process that exits; "
               f"`pyctl cluster up --name {c.name}` starts it again")
    node_rows = [(n.name, n.ip, n.pod_cidr, {"True": "Ready", "False": "NotReady"}.get(
        nodes.get(n.name, ""), "Unknown")) for n in c.nodes]
    s.out.write(_table([("NODE", "INTERNAL-IP", "POD-CIDR", "STATUS"), *node_rows]))
    return 0


def _table(rows: list[tuple[str, ...]]) -> str:
    return align("".join("\t".join(r) + "\n" for r in rows), padding=3)


register(Command("cluster", "Run a whole cluster on this machine (up, down, status)", configure, run,
                 EXAMPLES, group="Cluster Management Commands",
                 description="Start a local cluster as kind does, with network namespaces instead of "
                             "containers: etcd, the control plane, a registry and one agent per node, "
                             "kept running by a supervisor that restarts any of them that exits "
                             "(with back-off, as systemd's Restart=always does on servers).",
                 usage="pyctl cluster (up|down|status) [--name NAME] [flags]"))
