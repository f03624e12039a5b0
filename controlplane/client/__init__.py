"""The async REST client in-cluster components use to reach the API server.

    from controlplane.client import ApiClient, Informer, NotFound
    from controlplane.resources.registry import lookup

    PODS = lookup("", "v1", "pods")
    async with ApiClient("http://127.0.0.1:6443", user_agent="pyctl-gateway") as api:
        pod = await api.get(PODS, "web-0", namespace="default")
        async for event in api.watch(PODS, field_selector="spec.nodeName=node-1"):
            print(event.type, event.object["metadata"]["name"])
"""

from .credentials import Credentials
from .errors import (AlreadyExists, ApiError, BadRequest, Conflict, Expired, Forbidden, Invalid,
                     NotFound, ServerError, Unavailable)
from .informer import Informer
from .objects import ObjectList
from .rest import ApiClient
from .urls import object_key, resource_path
from .watch import WatchEvent, Watcher

__all__ = [
    "AlreadyExists", "ApiClient", "ApiError", "BadRequest", "Conflict", "Credentials", "Expired",
    "Forbidden", "Informer", "Invalid", "NotFound", "ObjectList", "ServerError", "Unavailable",
    "WatchEvent", "Watcher", "object_key", "resource_path",
]
