"""The admission steps the API's write path calls: `mutate` after defaulting and before
validation (ServiceAccount token volumes, serviceaccount.py), `admit` after validation.

Today: Pod Security (podsecurity.py) for pods and pod templates, and the namespace labels
that choose its levels; the default StorageClass, protection finalizers and resize checks of
claims and volumes (storage.py); RBAC escalation prevention (rbac_escalation.py) for roles and
bindings a user writes under the RBAC authorizer; the default IngressClass of a new
Ingress (ingressclass.py). A refusal is a metav1.Status error and
nothing is stored; warnings go to the response's `Warning` headers.
"""

from __future__ import annotations

from typing import Any, Protocol, Sequence

from ...auth.user import UserInfo
from ...resources.registry import ResourceInfo
from ...store import keys
from .. import errors
from . import ingressclass, podsecurity, rbac_escalation, serviceaccount, storage


class _Entry(Protocol):
    obj: dict[str, Any]


class _Cache(Protocol):
    def get(self, key: str) -> _Entry | None: ...

    def list(self, resource: str, namespace: str = "") -> Sequence[Any]: ...


def mutate(cache: _Cache, info: ResourceInfo, obj: dict[str, Any], *, service_account_tokens: bool) -> None:
    """Mutating admission on create; `service_account_tokens`: the server issues tokens to mount."""
    if service_account_tokens and info.group == "" and info.resource == "pods":
        def account(namespace: str, name: str) -> dict[str, Any] | None:
            entry = cache.get(keys.object_key("serviceaccounts", namespace, name))
            return entry.obj if entry is not None else None
        serviceaccount.admit(info, obj, account)


def admit(cache: _Cache, info: ResourceInfo, obj: dict[str, Any], old: dict[str, Any] | None,
          warnings: list[str], subresource: str = "", user: UserInfo | None = None) -> None:
    """Raise ApiError to refuse the write; append warnings for the client (each once: a
    retried update runs this again). `user` is the authorized requester (None: unchecked)."""
    if subresource not in ("", "ephemeralcontainers"):  # status, binding, scale: not policy
        return
    if user is not None and rbac_escalation.applies(info, user):
        rbac_escalation.admit(cache, info, obj, old, user)
        return
    if info.resource == "ingresses" and info.group == "networking.k8s.io":
        if old is None:
            ingressclass.admit(obj, lambda: [e.obj for e in cache.list("ingressclasses")])
        return
    if info.custom:  # a CRD's kinds are no pods, whatever they are called
        return
    if info.resource in storage.RESOURCES:
        storage.admit(cache, info, obj, old)
        return
    if info.resource == "namespaces":
        said = _namespace(cache, info, obj, old)
    elif info.namespaced and (info.resource == "pods" or obj.get("kind") in podsecurity.TEMPLATE_PATHS):
        said = _pod_or_template(cache, info, obj, old)
    else:
        return
    warnings.extend(w for w in said if w not in warnings)


def _namespace(cache: _Cache, info: ResourceInfo, obj: dict[str, Any], old: dict[str, Any] | None) -> list[str]:
    md = obj.get("metadata") or {}
    causes = podsecurity.label_errors(md.get("labels") or {})
    if causes:
        raise errors.invalid(info, md.get("name", ""), causes)
    if old is None:
        return []
    return podsecurity.existing_pods(md.get("name", ""), (old.get("metadata") or {}).get("labels") or {},
                                     md.get("labels") or {},
                                     lambda: [e.obj for e in cache.list("pods", md.get("name", ""))])


def _pod_or_template(cache: _Cache, info: ResourceInfo, obj: dict[str, Any],
                     old: dict[str, Any] | None) -> list[str]:
    md = obj.get("metadata") or {}
    entry = cache.get(keys.object_key("namespaces", None, md.get("namespace", "")))
    labels = ((entry.obj.get("metadata") or {}).get("labels") or {}) if entry is not None else {}
    decision = podsecurity.review(labels, obj, old)
    if decision.refused:
        raise errors.ApiError(403, decision.refused, "Forbidden",
                              {"name": md.get("name", ""), "kind": info.resource})
    return decision.warnings
