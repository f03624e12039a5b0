"""etcd request metrics, with kube-apiserver's names: `etcd_request_duration_seconds` and
`etcd_requests_total` by operation and resource (the second segment of the key), and
`etcd_request_errors_total` for calls etcd did not answer (a lost compare-and-swap is an
answer)."""

from __future__ import annotations

import functools
import time
from typing import Any, Awaitable, Callable, TypeVar

from prometheus_client import Counter, Histogram

from .. import exposition
from . import keys
from .errors import KeyExists, KeyNotFound, RevisionMismatch

_LABELS = ("operation", "type")
DURATION = Histogram("etcd_request_duration_seconds", "Etcd request latency in seconds for each operation "
                     "and object type.", _LABELS, registry=exposition.SERVER,
                     buckets=(0.005, 0.025, 0.05, 0.1, 0.2, 0.4, 0.6, 0.8, 1.0, 1.25, 1.5, 2, 3, 4, 5, 6,
                              8, 10, 15, 20, 30, 45, 60))
REQUESTS = Counter("etcd_requests_total", "Etcd request counts for each operation and object type.",
                   _LABELS, registry=exposition.SERVER)
ERRORS = Counter("etcd_request_errors_total", "Etcd failed request counts for each operation and object "
                 "type.", _LABELS, registry=exposition.SERVER)

F = TypeVar("F", bound=Callable[..., Awaitable[Any]])
_children: dict[tuple[str, str], tuple[Any, Any, Any]] = {}


def _of(labels: tuple[str, str]) -> tuple[Any, Any, Any]:
    """The labelled children, looked up once per (operation, type): `.labels()` costs per call."""
    found = _children.get(labels)
    if found is None:
        found = _children[labels] = (DURATION.labels(*labels), REQUESTS.labels(*labels), ERRORS.labels(*labels))
    return found


def timed(operation: str) -> Callable[[F], F]:
    """Decorate a Store method whose first argument is a key (or prefix) with its metrics."""
    def wrap(fn: F) -> F:
        @functools.wraps(fn)
        async def timed_call(self: Any, key: str, *args: Any, **kwargs: Any) -> Any:
            duration, requests, errors = _of((operation, keys.resource_of(key) or ""))
            started = time.perf_counter()
            try:
                return await fn(self, key, *args, **kwargs)
            except (KeyExists, KeyNotFound, RevisionMismatch):
                raise  # etcd answered: a lost race, not a failed request
            except Exception:
                errors.inc()
                raise
            finally:
                duration.observe(time.perf_counter() - started)
                requests.inc()
        return timed_call  # type: ignore[return-value]
    return wrap
