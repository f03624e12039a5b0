"""The API server through etcd stalls and outages, against a real etcd process.

A stalled etcd (SIGSTOP) must not wedge the server once it is back; a write etcd committed is
never reported as failed because the watch cache is behind; etcd gone is a 503 Status with
Retry-After and a timeout a 504; /readyz says whether the server can serve, /livez whether the
process itself is sound.
"""

from __future__ import annotations

import asyncio

import pytest

from controlplane.api.app import CACHE
from controlplane.store import Store

from ..cluster import ApiServer, Client, wait_until

CMS = "/api/v1/namespaces/default/configmaps"
# Short etcd deadlines, so a stall outlasts them in seconds rather than tens of seconds.
FAST = dict(etcd_request_timeout=2.0, etcd_watch_silence=2.0)


def configmap(name: str) -> dict:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": {"k": name}}


@pytest.fixture
async def fast_api(etcd):
    server = await ApiServer(etcd, **FAST).start()
    yield server
    etcd.resume()  # whatever a failed test left paused, before the server closes its store
    await server.stop()


async def stored_revision(etcd, name: str) -> int | None:
    store = Store([etcd.url])
    try:
        kv = await store.get(f"/registry/configmaps/default/{name}")
    finally:
        await store.close()
    return kv.mod_revision if kv else None


async def readyz(client: Client, query: str = "") -> tuple[int, str]:
    status, text = await client.request("GET", "/readyz" + query)
    return status, text if isinstance(text, str) else str(text)


def assert_retry_status(status: int, body, code: int, reason: str) -> None:
    assert status == code, body
    assert isinstance(body, dict) and body["kind"] == "Status" and body["reason"] == reason, body
    assert body["details"]["retryAfterSeconds"] == 1


async def test_an_etcd_stall_with_a_write_in_flight_does_not_wedge_the_server(etcd, fast_api):
    """The issue's reproduction: etcd frozen past the request deadline while a write waits on
    it. The write is a 504 (etcd may yet apply it), or a 503 if it never left; once etcd is back
    every write succeeds and reads see it, where the server used to answer 500 to every write
    for good."""
    client = Client(fast_api.url)
    try:
        assert (await client.request("POST", CMS, configmap("before")))[0] == 201
        etcd.pause()
        try:
            in_flight = asyncio.create_task(client.request("POST", CMS, configmap("during")))
            await asyncio.sleep(FAST["etcd_request_timeout"] + 1)  # past the deadline and the watch's bound
            status, body = await in_flight
            if status == 503:
                # It queued behind a write of the server's own (the kubernetes Endpoints) already
                # on its way (store/groupcommit.py), and when that timed out, the next dial found
                # no etcd: it never left, and says so.
                assert_retry_status(status, body, 503, "ServiceUnavailable")
            else:
                assert_retry_status(status, body, 504, "Timeout")
            status, text = await readyz(client, "?verbose")
            assert status == 500 and "[-]etcd failed: reason withheld" in text, text
            assert text.endswith("readyz check failed\n")
            assert (await client.request("GET", "/livez"))[0] == 200  # the process itself is fine
        finally:
            etcd.resume()

        await wait_until(lambda: _is_ready(client), timeout=20, interval=0.2)
        for i in range(5):
            status, obj = await client.request("POST", CMS, configmap(f"after-{i}"))
            assert status == 201, obj
            assert int(obj["metadata"]["resourceVersion"]) == await stored_revision(etcd, f"after-{i}")
            status, read = await client.request("GET", f"{CMS}/after-{i}")
            assert status == 200 and read["data"] == {"k": f"after-{i}"}
        status, listed = await client.request("GET", CMS)
        assert status == 200
        assert {f"after-{i}" for i in range(5)} <= {o["metadata"]["name"] for o in listed["items"]}
    finally:
        await client.close()


async def _is_ready(client: Client) -> bool:
    return (await readyz(client))[0] == 200


async def test_a_committed_write_is_answered_as_written_while_the_cache_lags(etcd, api, client):
    """A watch cache that sees nothing more (its loop stopped, as a wedged one did): writes
    that etcd commits are still answered 201/200 with the object as stored, a list of "the
    latest" is read from etcd instead, and both health endpoints say what is wrong."""
    cache = api.app()[CACHE]
    cache._task.cancel()  # the cache's watch loop ends: it will never see another change
    status, obj = await client.request("POST", CMS, configmap("lagging"))
    assert status == 201, obj
    assert int(obj["metadata"]["resourceVersion"]) == await stored_revision(etcd, "lagging")
    status, patched = await client.request(
        "PATCH", f"{CMS}/lagging", data='{"data": {"k": "patched"}}',
        headers={"Content-Type": "application/merge-patch+json"})
    assert status == 200 and patched["data"] == {"k": "patched"}, patched
    assert int(patched["metadata"]["resourceVersion"]) == await stored_revision(etcd, "lagging")

    status, listed = await client.request("GET", CMS)
    assert status == 200, listed
    assert [o["data"] for o in listed["items"] if o["metadata"]["name"] == "lagging"] == [{"k": "patched"}]

    status, text = await readyz(client, "?verbose")
    assert status == 500 and "[+]etcd ok" in text and "[-]watch-cache failed" in text, text
    status, text = await client.request("GET", "/livez")
    assert status == 500 and "[-]watch-cache failed" in text, text


async def test_etcd_gone_is_503_with_retry_after_and_the_server_recovers(etcd, fast_api):
    client = Client(fast_api.url)
    try:
        status, text = await readyz(client, "?verbose")
        assert status == 200
        assert text.splitlines() == ["[+]ping ok", "[+]etcd ok", "[+]watch-cache ok",
                                     "readyz check passed"]
        etcd.kill()
        resp = await client.session.post(client.base + CMS, json=configmap("nowhere"))
        body = await resp.json()
        assert_retry_status(resp.status, body, 503, "ServiceUnavailable")
        assert resp.headers["Retry-After"] == "1"
        status, body = await client.request("GET", CMS)  # the latest needs etcd
        assert_retry_status(status, body, 503, "ServiceUnavailable")
        status, text = await readyz(client)
        assert status == 500 and "[-]etcd failed: reason withheld" in text
        status, text = await client.request("GET", "/readyz/etcd")
        assert status == 500 and text.startswith("internal server error: ")
        assert (await client.request("GET", "/livez"))[0] == 200

        etcd.start()  # the same data: etcd back as it was
        await wait_until(lambda: _is_ready(client), timeout=20, interval=0.2)
        assert (await client.request("POST", CMS, configmap("back")))[0] == 201
        assert (await client.request("GET", f"{CMS}/back"))[0] == 200
    finally:
        await client.close()
