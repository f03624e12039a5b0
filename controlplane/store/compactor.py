"""Periodic etcd compaction, as kube-apiserver does it.

Every interval, compact up to the revision seen at the previous tick: history stays for
at least one interval (enough for watchers to resume), and etcd does not grow without bound.
"""

from __future__ import annotations

import asyncio
import logging

from .errors import StoreError
from .etcd import Store

log = logging.getLogger(__name__)


async def run_compactor(store: Store, interval: float = 300.0) -> None:
    previous = 0
    while True:
        await asyncio.sleep(interval)
        try:
            current = await store.revision()
            if previous:
                await store.compact(previous)
                log.info("compacted etcd to revision %d", previous)
            previous = current
        except StoreError as exc:
            log.warning("compaction skipped: %s", exc)
