"""PodToken: a pod's projected ServiceAccount token, asked for by its node's agent.

The kubelet asks the API for these tokens with its own node credentials, and the node
authorizer lets it only for pods bound to its node. Here the agent has no API credentials at
all: it asks the gateway, which checks the same rule (the pod, by uid, is bound to the
caller's node) and sends a TokenRequest for the pod's ServiceAccount bound to that pod, so the
token names the pod and its node and dies with the pod.
"""

from __future__ import annotations

import datetime as dt
import logging

import grpc

from pyctl_proto import node_pb2 as pb

from ..client import ApiClient, ApiError, NotFound
from ..client.kinds import resource
from ..machinery.types import Obj
from .assignments import node_of

log = logging.getLogger(__name__)

SERVICE_ACCOUNTS = resource("", "v1", "serviceaccounts")
MIN_EXPIRATION = 600


async def pod_token(request: pb.PodTokenRequest, context: grpc.aio.ServicerContext, node: str,
                    pod: Obj | None, client: ApiClient) -> pb.IssuedToken:
    """`pod`: the pod named by the request as the gateway's index has it (None: unknown)."""
    where = f"{request.namespace}/{request.pod}"
    if not request.namespace or not request.pod or not request.uid:
        await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "namespace, pod and uid are required")
    if request.expiration_seconds < MIN_EXPIRATION:
        await context.abort(grpc.StatusCode.INVALID_ARGUMENT,
                            f"expiration_seconds {request.expiration_seconds}: at least {MIN_EXPIRATION}")
    if pod is None or node_of(pod) != node or pod["metadata"].get("uid") != request.uid:
        await context.abort(grpc.StatusCode.PERMISSION_DENIED,
                            f"token refused: pod {where} (uid {request.uid}) is not bound to node {node}")
    assert pod is not None
    account = (pod.get("spec") or {}).get("serviceAccountName") or "default"
    spec: dict = {"expirationSeconds": int(request.expiration_seconds),
                  "boundObjectRef": {"kind": "Pod", "apiVersion": "v1", "name": request.pod, "uid": request.uid}}
    if request.audience:
        spec["audiences"] = [request.audience]
    body = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": spec}
    try:
        answer = await client.request("POST", client.url(SERVICE_ACCOUNTS, request.namespace, account, "token"),
                                      body=body)
    except NotFound as exc:
        await context.abort(grpc.StatusCode.NOT_FOUND, f"token for pod {where}: {exc}")
    except ApiError as exc:
        await context.abort(grpc.StatusCode.UNAVAILABLE, f"token for pod {where}: {exc}")
    status = answer.get("status") or {}
    expires = dt.datetime.fromisoformat(str(status.get("expirationTimestamp", "")).replace("Z", "+00:00"))
    return pb.IssuedToken(token=status.get("token", ""), expiration_unix=int(expires.timestamp()))
