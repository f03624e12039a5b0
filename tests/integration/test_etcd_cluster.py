"""The API server on a 3-member etcd (deploy/etcd/'s layout, on 127.0.0.1-3): it keeps serving
while one member is killed or frozen, and with two members down it reports unready, answers
503/504 Statuses, and recovers by itself when they return."""

from __future__ import annotations

import pytest

from ..cluster import ApiServer, Client, EtcdCluster, wait_until

CMS = "/api/v1/namespaces/default/configmaps"
FAST = dict(etcd_request_timeout=2.0, etcd_watch_silence=2.0)


@pytest.fixture
def etcd3():
    cluster = EtcdCluster().start()
    yield cluster
    cluster.stop()


@pytest.fixture
async def api3(etcd3):
    server = await ApiServer(etcd3, **FAST).start()
    yield server
    for member in etcd3.members:
        member.resume()
    await server.stop()


class Traffic:
    """Writes and reads as a user does, keeping every answer that was not a success."""

    def __init__(self, client: Client) -> None:
        self.client, self.count, self.failures = client, 0, []

    async def round(self) -> bool:
        """One create, read back and list; whether all three succeeded."""
        self.count += 1
        name = f"cm-{self.count}"
        answers = [await self.client.request("POST", CMS, {"metadata": {"name": name}, "data": {"n": name}})]
        if answers[0][0] == 201:
            answers.append(await self.client.request("GET", f"{CMS}/{name}"))
            answers.append(await self.client.request("GET", CMS))
        failed = [(s, b) for s, b in answers if s not in (200, 201)]
        self.failures.extend(failed)
        return not failed and len(answers) == 3

    async def steady(self, rounds: int = 5) -> None:
        for _ in range(rounds):
            assert await self.round(), self.failures[-3:]

    def failures_were_statuses(self) -> None:
        """What failed while members were down was a retryable metav1.Status, nothing else."""
        for status, body in self.failures:
            assert status in (503, 504) and isinstance(body, dict) and body["kind"] == "Status", body
            assert body["details"]["retryAfterSeconds"] == 1


async def ready(client: Client) -> bool:
    return (await client.request("GET", "/readyz"))[0] == 200


async def test_one_member_killed_then_each_frozen_the_api_keeps_serving(etcd3, api3):
    client = Client(api3.url)
    traffic = Traffic(client)
    try:
        await traffic.steady()

        # SIGKILL the member the API server dials first: it moves to the next at once (a
        # write racing the kill on the dead connection may get a 503: etcd's answer is lost).
        first = etcd3.members[0]
        first.kill()
        await wait_until(traffic.round, timeout=10, interval=0.1)
        await traffic.steady()
        assert len(traffic.failures) <= 1, traffic.failures
        first.start()
        first.wait_healthy()

        # SIGSTOP each member in turn (one of them is the one the server talks to): a frozen
        # member answers nothing and fails nothing, so the server must notice by itself.
        for member in etcd3.members:
            member.pause()
            try:
                await wait_until(traffic.round, timeout=20, interval=0.1)
                await traffic.steady()
            finally:
                member.resume()
            member.wait_healthy()
        traffic.failures_were_statuses()
        assert await ready(client)
    finally:
        await client.close()


async def test_two_members_down_is_unready_then_recovers(etcd3, api3):
    client = Client(api3.url)
    traffic = Traffic(client)
    try:
        await traffic.steady(2)
        down = etcd3.members[1:]
        for member in down:
            member.pause()
        try:
            await wait_until(lambda: _unready(client), timeout=20, interval=0.2)
            assert not await traffic.round()  # no quorum: nothing can be written
            status, text = await client.request("GET", "/readyz?verbose")
            assert status == 500 and "[-]etcd failed: reason withheld" in text, text
        finally:
            for member in down:
                member.resume()
        await wait_until(lambda: ready(client), timeout=30, interval=0.2)
        await traffic.steady()
        traffic.failures_were_statuses()
    finally:
        await client.close()


async def _unready(client: Client) -> bool:
    return not await ready(client)
