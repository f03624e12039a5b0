"""Request bodies as clients really send them: in several TCP segments, chunked, without a
Content-Type (the official Python client), with a Content-Type that is no object at all, and
nested hostilely deep. Speed is measured as a ratio against an idle GET in the same test."""

from __future__ import annotations

import asyncio
import json
import statistics
import time

from .test_api_crud import raw_keys

CMS = "/api/v1/namespaces/default/configmaps"
PROBE = "/api/v1/namespaces/default"


def configmap(name: str, size: int = 7000) -> bytes:
    return json.dumps({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name},
                       "data": {"blob": "x" * size}}).encode()


async def raw_post(port: int, head: str, pieces: list[bytes], pause: float = 0.05) -> tuple[int, dict]:
    """POST over a plain socket, each piece its own write `pause` seconds apart."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(head.encode())
        for piece in pieces:
            writer.write(piece)
            await writer.drain()
            await asyncio.sleep(pause)
        response = await asyncio.wait_for(reader.read(), 30)  # Connection: close
    finally:
        writer.close()
    header, _, body = response.partition(b"\r\n\r\n")
    status = int(header.split(b" ", 2)[1])
    if b"transfer-encoding: chunked" in header.lower():
        body = _unchunk(body)
    return status, json.loads(body)


def _unchunk(data: bytes) -> bytes:
    out = b""
    while data:
        size, _, rest = data.partition(b"\r\n")
        n = int(size, 16)
        if n == 0:
            break
        out, data = out + rest[:n], rest[n + 2:]
    return out


def post_head(path: str, headers: str) -> str:
    return f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n{headers}\r\n"


async def test_a_body_in_two_tcp_writes_is_read_whole(api, client, etcd):
    body = configmap("split")
    head = post_head(CMS, f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n")
    status, obj = await raw_post(api.port, head, [body[:3000], body[3000:]])
    assert status == 201, obj
    assert len(obj["data"]["blob"]) == 7000
    status, read = await client.request("GET", f"{CMS}/split")
    assert status == 200 and read["data"] == obj["data"]

    # The limit holds for a body that arrives in pieces too.
    before = await raw_keys(etcd)
    size = 3 * 1024 * 1024 + 10
    head = post_head(CMS, f"Content-Type: application/json\r\nContent-Length: {size}\r\n")
    status, answer = await raw_post(api.port, head, [b"x" * (size // 2), b"x" * (size - size // 2)])
    assert status == 413 and answer["kind"] == "Status"
    assert await raw_keys(etcd) == before


async def test_a_chunked_body_in_many_writes_is_read_whole(api, client):
    body = configmap("chunked", 40000)
    chunks = [body[i:i + 4096] for i in range(0, len(body), 4096)]
    pieces = [b"%x\r\n%s\r\n" % (len(c), c) for c in chunks] + [b"0\r\n\r\n"]
    head = post_head(CMS, "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n")
    status, obj = await raw_post(api.port, head, pieces, pause=0.02)
    assert status == 201, obj
    assert len(obj["data"]["blob"]) == 40000


async def test_a_body_that_is_not_an_object_type_is_415(client, etcd):
    before = await raw_keys(etcd)
    obj = configmap("typed").decode()
    for ctype in ("text/plain", "application/x-www-form-urlencoded", "application/octet-stream"):
        status, body = await client.request("POST", CMS, data=obj, headers={"Content-Type": ctype})
        assert status == 415, (ctype, body)
        assert body["kind"] == "Status" and body["reason"] == "UnsupportedMediaType"
        assert body["message"].startswith("the body of the request was in an unknown format - "
                                          "accepted media types include: application/json, application/yaml")
        status, body = await client.request("PUT", f"{CMS}/typed", data=obj, headers={"Content-Type": ctype})
        assert status == 415, (ctype, body)
    assert await raw_keys(etcd) == before

    # No Content-Type at all is JSON: the official Python client sends POST and PUT so.
    resp = await client.session.post(client.base + CMS, data=configmap("untyped"),
                                     skip_auto_headers=["Content-Type"])
    assert resp.status == 201, await resp.text()
    obj = json.loads(configmap("untyped"))
    obj["data"]["blob"] = "y"
    resp = await client.session.put(client.base + f"{CMS}/untyped", data=json.dumps(obj).encode(),
                                    skip_auto_headers=["Content-Type"])
    assert resp.status == 200 and (await resp.json())["data"]["blob"] == "y"


DEEP_YAML = "[" * 10000 + "]" * 10000  # 20 KB: 10,000 nested lists
DEEP_BLOCK_YAML = "- " * 10000 + "x\n"
DEEP_JSON = '{"metadata":' * 10000 + "{}" + "}" * 10000


async def _timed(coro) -> tuple[float, tuple]:
    start = time.perf_counter()
    result = await coro
    return time.perf_counter() - start, result


async def test_deep_nesting_is_refused_fast_and_other_clients_stay_responsive(client, etcd):
    before = await raw_keys(etcd)

    async def hostile(body: str, ctype: str):
        return await client.request("POST", CMS, data=body, headers={"Content-Type": ctype})

    async def get():
        return await _timed(client.request("GET", PROBE))

    idle = statistics.median([(await get())[0] for _ in range(20)])
    for body, ctype in ((DEEP_YAML, "application/yaml"), (DEEP_JSON, "application/json"),
                        (DEEP_YAML, "application/json"), (DEEP_BLOCK_YAML, "application/yaml")):
        took = []
        for _ in range(5):  # the median: one pause of the machine is not the server's doing
            elapsed, (status, answer) = await _timed(hostile(body, ctype))
            assert status == 400 and answer["reason"] == "BadRequest", answer
            assert "more than 100 levels deep" in answer["message"]
            took.append(elapsed)
        # Before: ~1 s of the event loop (about 5,000 idle GETs) and a 500.
        assert statistics.median(took) < 200 * idle, (took, idle)

    # A dozen at once, while another client keeps asking.
    async def meanwhile():
        return [(await get())[0] for _ in range(10)]
    results = await asyncio.gather(*(hostile(DEEP_YAML, "application/yaml") for _ in range(12)),
                                   meanwhile())
    assert all(status == 400 for status, _ in results[:12])
    during = results[12]
    # Before: 4.7-7.9 s each (tens of thousands of idle GETs); now about one or two.
    assert statistics.median(during) < 50 * idle, (during, idle)
    assert max(during) < 2000 * idle, (during, idle)
    assert await raw_keys(etcd) == before

    # Within the limit, as deep as it may be, a body is decoded (an unknown field: dropped).
    lists = "[" * 99 + "]" * 99
    for body, ctype in (('{"metadata": {"name": "deep"}, "extra": %s}' % lists, "application/json"),
                        ("metadata:\n  name: deep\nextra: %s\n" % lists, "application/yaml")):
        status, obj = await client.request("POST", CMS, data=body, headers={"Content-Type": ctype})
        assert status == 201 and "extra" not in obj, obj
        assert (await client.request("DELETE", f"{CMS}/deep"))[0] == 200
