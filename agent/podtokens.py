"""The ServiceAccount tokens of this node's pods (projected `serviceAccountToken` sources).

The agent holds no API credentials: it asks the gateway (`NodeService.PodToken`, with the
node's own certificate) for a token bound to the pod, as the kubelet asks the API. Tokens are
kept in memory per (pod uid, audience, lifetime) and are due for renewal at 80% of their
lifetime or after 24 hours, whichever comes first (the kubelet's token manager rule);
`PodTokens.due_in` tells the refresher when the next one is. Token values are never logged.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, replace
from typing import Any, Awaitable, Callable, Iterator

import grpc

from pyctl_proto import node_pb2 as pb
from pyctl_proto import node_pb2_grpc

from .credentials import NodeCredentials, gateway_channel
from .runtime.bundle import ConfigError
from .types import Obj

log = logging.getLogger(__name__)

DEFAULT_EXPIRATION = 3600
MAX_AGE = 24 * 3600
RENEW_AT = 0.8
Fetch = Callable[[pb.PodTokenRequest], Awaitable[pb.IssuedToken]]
Key = tuple[str, str, int]  # (pod uid, audience, expirationSeconds)


RETRY = 10.0
"""Seconds before a failed renewal is tried again (the current token still being valid)."""


@dataclass(frozen=True)
class Held:
    token: str
    issued: float
    expires: float
    retry_at: float = 0.0

    @property
    def renew_at(self) -> float:
        due = min(self.issued + RENEW_AT * (self.expires - self.issued), self.issued + MAX_AGE)
        return max(due, self.retry_at)


def sources(pod: Obj) -> Iterator[Obj]:
    """Every serviceAccountToken source of the pod's projected volumes."""
    for v in (pod.get("spec") or {}).get("volumes") or []:
        for s in (v.get("projected") or {}).get("sources") or []:
            if isinstance(s.get("serviceAccountToken"), dict):
                yield s["serviceAccountToken"]


def key(pod: Obj, source: Obj) -> Key:
    return (pod["metadata"]["uid"], str(source.get("audience") or ""),
            int(source.get("expirationSeconds") or DEFAULT_EXPIRATION))


class PodTokens:
    """Tokens by (pod, audience, lifetime), fetched through `fetch`."""

    def __init__(self, fetch: Fetch, clock: Callable[[], float] = time.time) -> None:
        self.fetch = fetch
        self.clock = clock
        self._held: dict[Key, Held] = {}
        self.changed = asyncio.Event()  # a pod with tokens arrived: the refresher looks again

    def token(self, pod: Obj, source: Obj) -> bytes:
        """The held token for a source (sync, for the volume writer); ConfigError if none yet."""
        held = self._held.get(key(pod, source))
        if held is None:
            raise ConfigError("no ServiceAccount token for this pod yet (the node gateway was not reachable)")
        return held.token.encode()

    async def ensure(self, pod: Obj, *, force: bool = False) -> bool:
        """Fetch every token of the pod that is missing or due (all with `force`); True when
        one changed. ConfigError with the gateway's reason when one cannot be had."""
        changed = False
        md = pod["metadata"]
        for source in sources(pod):
            k = key(pod, source)
            held = self._held.get(k)
            if held is not None and not force and self.clock() < held.renew_at:
                continue
            request = pb.PodTokenRequest(namespace=md.get("namespace") or "default", pod=md["name"], uid=k[0],
                                         audience=k[1], expiration_seconds=k[2])
            try:
                answer = await self.fetch(request)
            except grpc.aio.AioRpcError as exc:
                if held is not None and self.clock() < held.expires:
                    self._held[k] = replace(held, retry_at=self.clock() + RETRY)
                    log.warning("pod %s/%s: renewing its ServiceAccount token failed (%s); the current one "
                                "is valid for %.0fs more", request.namespace, request.pod, exc.details(),
                                held.expires - self.clock())
                    continue
                raise ConfigError(f"cannot get a ServiceAccount token for the pod: {exc.details()}") from None
            now = self.clock()
            self._held[k] = Held(answer.token, now, float(answer.expiration_unix or now + k[2]))
            changed = True
        if changed:
            self.changed.set()
        return changed

    def due_in(self, uid: str) -> float | None:
        """Seconds until a token of pod `uid` is due for renewal; None when it has none."""
        times = [h.renew_at for k, h in self._held.items() if k[0] == uid]
        return max(0.0, min(times) - self.clock()) if times else None

    def forget(self, uid: str) -> None:
        for k in [k for k in self._held if k[0] == uid]:
            del self._held[k]


class GatewayTokens:
    """`Fetch` over the gateway, on one channel kept open: every pod start waits for its token
    (its first container is created only then), and a channel per call cost a TLS handshake
    each time. The channel is made again when the node certificate has been renewed."""

    def __init__(self, server: str, node_name: str, credentials: NodeCredentials | None = None,
                 timeout: float = 15.0) -> None:
        self.server, self.node_name, self.credentials, self.timeout = server, node_name, credentials, timeout
        self._channel: Any = None
        self._generation = -1  # of the credentials the channel was made with
        self._closing: set[asyncio.Task[None]] = set()  # replaced channels, closing (held: not collected)

    def _stub(self) -> Any:
        generation = self.credentials.generation if self.credentials is not None else 0
        if self._channel is None or generation != self._generation:
            old = self._channel
            if old is not None:  # calls under way on it end first (close's grace)
                closing = asyncio.get_running_loop().create_task(old.close(grace=self.timeout))
                self._closing.add(closing)
                closing.add_done_callback(self._closing.discard)
            self._channel = gateway_channel(self.server, self.credentials)
            self._generation = generation
        return node_pb2_grpc.NodeServiceStub(self._channel)

    async def __call__(self, request: pb.PodTokenRequest) -> pb.IssuedToken:
        if self.credentials is None:
            request.node_name = self.node_name
        return await self._stub().PodToken(request, timeout=self.timeout)

    async def close(self) -> None:
        if self._channel is not None:
            await self._channel.close()
            self._channel = None
        if self._closing:
            await asyncio.gather(*self._closing, return_exceptions=True)
