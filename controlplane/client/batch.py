"""Writes from many tasks of one component, sent together: POST /internal/batch.

Each caller awaits its own write as it would a single request, and gets its result or its own
typed ApiError (Conflict, NotFound, ...). Writes submitted while the loop runs other tasks go
in the same request: the first one schedules a send for the next turn of the loop, and while
`max_in_flight` requests are under way, new writes gather for the next. An idle component
adds no delay; a busy one sends hundreds of writes per request, which the API server stores
in a few etcd transactions (api/batch.py). An API server without the endpoint (404) is
written to one request per write from then on.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from ..resources.registry import ResourceInfo
from . import errors
from .rest import ApiClient
from .urls import resource_path

log = logging.getLogger(__name__)

PATH = "/internal/batch"
MAX_ITEMS = 1000
"""Writes per request (the server takes up to 2,000)."""


class BatchWriter:
    def __init__(self, client: ApiClient, *, max_in_flight: int = 2, max_items: int = MAX_ITEMS) -> None:
        self.client = client
        self.max_items = max_items
        self._pending: list[tuple[dict[str, Any], asyncio.Future[dict[str, Any]]]] = []
        self._slots = asyncio.Semaphore(max_in_flight)
        self._scheduled = False
        self._tasks: set[asyncio.Task[None]] = set()
        self._unsupported = False
        self.requests = 0  # batch requests sent (for tests and metrics)

    async def write(self, method: str, info: ResourceInfo, namespace: str, name: str = "",
                    subresource: str = "", *, body: Any, content_type: str = "") -> dict[str, Any]:
        """One write (as ApiClient.request would make it); {"code", "resourceVersion"} when done
        (and "name" for a create)."""
        item: dict[str, Any] = {"method": method, "path": resource_path(info, namespace, name, subresource),
                                "body": body}
        if content_type:
            item["contentType"] = content_type
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[dict[str, Any]] = loop.create_future()
        self._pending.append((item, fut))
        if not self._scheduled:
            self._scheduled = True
            loop.call_soon(self._start_send)
        return await fut

    async def close(self) -> None:
        """Stop sending; writes not yet answered fail as unavailable."""
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        for _, fut in self._pending:
            if not fut.done():
                fut.set_exception(errors.unavailable("the batch writer was closed"))
        self._pending = []

    def _start_send(self) -> None:
        self._scheduled = False
        task = asyncio.ensure_future(self._send())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _send(self) -> None:
        async with self._slots:  # while the slots are busy, writes gather for this send
            batch, self._pending = self._pending[:self.max_items], self._pending[self.max_items:]
            if self._pending and not self._scheduled:
                self._scheduled = True
                asyncio.get_running_loop().call_soon(self._start_send)
            if not batch:
                return
            try:
                if self._unsupported:
                    await self._one_by_one(batch)
                else:
                    await self._together(batch)
            except BaseException as exc:  # cancelled (close) or a bug: nobody may wait forever
                for _, fut in batch:
                    if not fut.done():
                        fut.set_exception(errors.unavailable(f"batch not sent: {exc!r}"))
                raise

    async def _together(self, batch: list[tuple[dict[str, Any], asyncio.Future[dict[str, Any]]]]) -> None:
        try:
            self.requests += 1
            answer = await self.client.request("POST", self.client.config.base_url + PATH,
                                               body={"items": [item for item, _ in batch]})
        except errors.NotFound as exc:
            if (exc.status.get("details") or {}).get("name"):  # not the endpoint's own 404
                raise
            log.info("the API server has no %s: writing one request per write", PATH)
            self._unsupported = True
            await self._one_by_one(batch)
            return
        except errors.ApiError as exc:  # the request as a whole failed: so did each write
            for _, fut in batch:
                if not fut.done():
                    fut.set_exception(exc)
            return
        results = answer.get("items") if isinstance(answer, dict) else None
        bad = errors.ServerError(500, {"kind": "Status", "code": 500, "message": "malformed batch answer"})
        if not isinstance(results, list) or len(results) != len(batch):
            results = [None] * len(batch)
        for (_, fut), result in zip(batch, results):
            if fut.done():
                continue
            if not isinstance(result, dict):
                fut.set_exception(bad)
            elif int(result.get("code") or 500) >= 400:
                fut.set_exception(errors.from_response(int(result["code"]), result.get("status")))
            else:
                fut.set_result(result)

    async def _one_by_one(self, batch: list[tuple[dict[str, Any], asyncio.Future[dict[str, Any]]]]) -> None:
        async def one(item: dict[str, Any], fut: asyncio.Future[dict[str, Any]]) -> None:
            try:
                obj = await self.client.request(item["method"], self.client.config.base_url + item["path"],
                                                body=item["body"],
                                                content_type=item.get("contentType") or "application/json")
            except errors.ApiError as exc:
                if not fut.done():
                    fut.set_exception(exc)
                return
            if not fut.done():
                md = (obj.get("metadata") if isinstance(obj, dict) else None) or {}
                fut.set_result({"code": 200, "resourceVersion": md.get("resourceVersion", ""),
                                "name": md.get("name", "")})

        await asyncio.gather(*(one(item, fut) for item, fut in batch))
