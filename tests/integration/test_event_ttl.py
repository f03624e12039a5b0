"""Events expire on their own through an etcd lease, and an update keeps them on it."""

from __future__ import annotations

from ..cluster import ApiServer, Client, wait_until

EVENTS = "/api/v1/namespaces/default/events"


def event(name: str) -> dict:
    return {"apiVersion": "v1", "kind": "Event", "metadata": {"name": name},
            "involvedObject": {"kind": "Pod", "name": "p", "namespace": "default"},
            "reason": "Testing", "message": "m", "type": "Normal", "count": 1}


async def test_events_expire_after_the_ttl_and_other_kinds_stay(etcd):
    api = await ApiServer(etcd, event_ttl=2).start()
    client = Client(api.url)
    try:
        assert (await client.request("POST", EVENTS, event("short")))[0] == 201
        cm = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "stays"},
              "spec": {"ports": [{"port": 80}]}}
        assert (await client.request("POST", "/api/v1/namespaces/default/services", cm))[0] == 201
        # An update (the recorder bumps count) must not take the Event off its lease.
        status, _ = await client.request("PATCH", f"{EVENTS}/short", {"count": 2},
                                         headers={"Content-Type": "application/merge-patch+json"})
        assert status == 200

        async def gone():
            return (await client.request("GET", f"{EVENTS}/short"))[0] == 404
        await wait_until(gone, timeout=20, interval=0.2)
        assert (await client.request("GET", "/api/v1/namespaces/default/services/stays"))[0] == 200
    finally:
        await client.close()
        await api.stop()
