"""What an API server writes when it starts: the default namespaces and the bootstrap RBAC policy.

Several API servers may start at once against one etcd: whoever creates an object first wins,
the others take AlreadyExists as done. Objects already present are left as they are.
"""

from __future__ import annotations

from ..auth.bootstrap import policy
from ..resources import registry
from ..resources.kinds.namespace import NAMESPACE
from . import errors
from .options import WriteOptions
from .storage import ObjectStore

DEFAULT_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")
_RBAC = "rbac.authorization.k8s.io"


async def _ensure(objects: ObjectStore, resource_info, obj: dict, opts: WriteOptions) -> None:
    if objects.cache.get(objects.key(resource_info, "", obj["metadata"]["name"])) is not None:
        return
    try:
        await objects.create(resource_info, "", obj, opts)
    except errors.ApiError as exc:
        if exc.reason != "AlreadyExists":  # another API server made it first
            raise


async def ensure_namespaces(objects: ObjectStore) -> None:
    for name in DEFAULT_NAMESPACES:
        await _ensure(objects, NAMESPACE.info, {"apiVersion": "v1", "kind": "Namespace",
                                                "metadata": {"name": name}}, WriteOptions())


async def ensure_policy(objects: ObjectStore) -> None:
    """The bootstrap ClusterRoles and ClusterRoleBindings (auth/bootstrap.py)."""
    for resource, obj in policy():
        info = registry.lookup(_RBAC, "v1", resource)
        assert info is not None
        await _ensure(objects, info, obj, WriteOptions(field_manager="pyctl-apiserver"))
