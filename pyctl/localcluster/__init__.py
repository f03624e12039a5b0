"""A whole pyctl cluster on one machine, as `kind` makes one with containers, but with
network namespaces: `pyctl cluster up/down/status` (DESIGN §6).

state       the cluster's record on disk (names, addresses, ports) and allocating them
hostnet     the host side: bridge, node netns + veths, blackhole route, FORWARD rule
procs       detached processes with pidfiles (etcd, control plane, registry, agents)
components  each process's command line, address, readiness check, pidfile and log
supervisor  the per-cluster daemon that restarts what exits, with back-off (as systemd would)
supervision what up/down/status and the supervisor share: wanted processes, its report
registry    the local image registry (Debian's docker-registry), shared with the tests
leftovers   what a node's agent leaves behind: runc containers, conmon, mounts, cgroups
launcher    up / down / status, in that order of parts
"""
