"""The node's ingress data plane: HAProxy, configured from the gateway's IngressTable and supervised."""

PROXY_NODE_LABEL = "ingress.pyctl.io/proxy"
"""On the Node: "true" when its agent runs the ingress proxy. The control plane reads it
(controlplane/machinery/ingress.py spells it too: the agent imports nothing of the control plane)."""
