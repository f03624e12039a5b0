"""A whole pyctl cluster on one machine, as `kind` makes one with containers, but with
network namespaces: `pyctl cluster up/down/status` (DESIGN §6).

state      the cluster's record on disk (names, addresses, ports) and allocating them
hostnet    the host side: bridge, node netns + veths, blackhole route, FORWARD rule
procs      detached processes with pidfiles (etcd, control plane, registry, agents)
registry   the local image registry (Debian's docker-registry), shared with the tests
leftovers  what a node's agent leaves behind: runc containers, conmon, mounts, cgroups
launcher   up / down / status, in that order of parts
"""
