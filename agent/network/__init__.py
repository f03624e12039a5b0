"""Pod networking on a node: network namespaces the agent owns and the CNI plugins that wire them."""
