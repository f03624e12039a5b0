"""Writing an object's finalizers: one conditional update of the object as it was read.

A Conflict (someone wrote meanwhile) is the caller's to retry from a fresh read; an object
already gone needs nothing more.
"""

from __future__ import annotations

from ..machinery.meta import deep_copy
from ..machinery.types import Obj
from ..resources.registry import ResourceInfo
from .errors import NotFound
from .rest import ApiClient


async def set_finalizers(client: ApiClient, info: ResourceInfo, obj: Obj, finalizers: list[str]) -> None:
    """Update `obj` (with its resourceVersion) so that its finalizers are `finalizers`."""
    new = deep_copy(obj)
    new["metadata"]["finalizers"] = finalizers
    try:
        await client.update(info, new)
    except NotFound:
        pass
