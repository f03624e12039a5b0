"""Events as Kubernetes' event correlator writes them, against the real API server: repeats
fold into one Event, the tenth distinct message of one reason starts a combined Event, and a
component's Events about one object stop after 25 (the spam filter) while other objects' go on."""

from __future__ import annotations

import asyncio

from controlplane import events as ev
from controlplane.client import ApiClient

EVENTS = "/api/v1/namespaces/default/events"
RS = {"apiVersion": "apps/v1", "kind": "ReplicaSet",
      "metadata": {"name": "web-1", "namespace": "default", "uid": "rs-uid-1"}}


def about(name: str) -> dict:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "default", "uid": f"{name}-uid"}}


async def listed(client, name: str) -> list[dict]:
    status, body = await client.request("GET", EVENTS)
    assert status == 200, body
    return [e for e in body["items"] if e["involvedObject"]["name"] == name]


async def test_similar_events_combine_and_a_busy_object_stops_at_the_spam_limit(api, client, monkeypatch) -> None:
    writer = ApiClient(api.url, user_agent="replicaset-controller")
    rec = ev.EventRecorder(writer, "replicaset-controller")
    try:
        for i in range(40):  # one ReplicaSet creating 40 pods, one Event each
            await rec.event(RS, "Normal", "SuccessfulCreate", f"Created pod: web-1-{i:02d}")
        got = await listed(client, "web-1")
        singles = [e for e in got if not e["message"].startswith(ev.COMBINED)]
        combined = [e for e in got if e["message"].startswith(ev.COMBINED)]
        # 9 distinct messages as themselves; the 10th starts the combined Event, which the
        # remaining calls of the burst of 25 update; the last 15 calls are dropped.
        assert sorted(e["message"] for e in singles) == [f"Created pod: web-1-{i:02d}" for i in range(9)]
        assert len(combined) == 1, combined
        assert combined[0]["count"] == ev.SPAM_BURST - 9
        assert combined[0]["message"] == f"{ev.COMBINED}Created pod: web-1-{ev.SPAM_BURST - 1:02d}"
        assert combined[0]["reason"] == "SuccessfulCreate" and combined[0]["source"]["component"] == "replicaset-controller"

        # The bucket refills (one Event per SPAM_REFILL seconds, 300 in Kubernetes; here 1).
        monkeypatch.setattr(ev, "SPAM_REFILL", 1.0)
        await asyncio.sleep(1.2)
        await rec.event(RS, "Normal", "SuccessfulCreate", "Created pod: web-1-40")
        (combined,) = [e for e in await listed(client, "web-1") if e["message"].startswith(ev.COMBINED)]
        assert combined["count"] == ev.SPAM_BURST - 9 + 1 and combined["message"].endswith("web-1-40")

        # Another object has a bucket of its own; an exact repeat folds into one Event.
        for _ in range(3):
            await rec.event(about("p1"), "Warning", "BackOff", "Back-off restarting failed container")
        (backoff,) = await listed(client, "p1")
        assert backoff["count"] == 3 and backoff["message"] == "Back-off restarting failed container"
    finally:
        await writer.close()
