"""pyctl-agent: the node agent. It dials the control plane's gateway, runs the pods
assigned to its node through a container runtime, and reports their status.

It never imports from `controlplane`: the wire protocol (pyctl_proto) is the contract.
"""
