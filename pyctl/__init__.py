"""pyctl: the command-line client for a pyctl (Kubernetes-compatible) cluster.

It speaks the Kubernetes REST API only, so it works against the pyctl control plane
and against any Kubernetes API server; its output and errors follow kubectl's.
"""

__version__ = "0.1.0"
