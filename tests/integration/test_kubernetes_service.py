"""The `default/kubernetes` Service and its endpoints, kept by the API servers themselves
(real etcd, two real API servers)."""

from __future__ import annotations

import datetime as dt

from tests.cluster import ApiServer, Client, free_port, wait_until

EP = "/api/v1/namespaces/default/endpoints/kubernetes"
SLICE = "/apis/discovery.k8s.io/v1/namespaces/default/endpointslices/kubernetes"
LEASES = "/apis/coordination.k8s.io/v1/namespaces/kube-system/leases"


def addresses(ep: dict) -> set[tuple[str, int]]:
    return {(a["ip"], p["port"]) for s in ep.get("subsets") or [] for a in s.get("addresses") or []
            for p in s["ports"]}


async def test_the_api_servers_list_themselves_and_leave(etcd):
    ports = free_port(), free_port()
    a, b = [await ApiServer(etcd, port=p, advertise_address="127.0.0.1", advertise_port=p,
                            endpoint_reconcile_interval=0.2).start() for p in ports]
    client = Client(a.url)
    try:
        code, svc = await client.request("GET", "/api/v1/namespaces/default/services/kubernetes")
        assert code == 200
        assert svc["spec"]["clusterIP"] == "10.96.0.1"
        assert svc["spec"]["ports"] == [{"name": "https", "port": 443, "protocol": "TCP",
                                         "targetPort": a.port}]
        both = {("127.0.0.1", a.port), ("127.0.0.1", b.port)}
        await wait_until(lambda: _addresses(client, both), 10)
        code, sl = await client.request("GET", SLICE)
        assert code == 200 and sl["endpoints"][0]["addresses"] == ["127.0.0.1"]
        assert sl["metadata"]["labels"]["kubernetes.io/service-name"] == "kubernetes"

        await b.stop()  # a graceful stop takes it out at once, and its lease goes
        code, ep = await client.request("GET", EP)
        assert addresses(ep) == {("127.0.0.1", a.port)}
        code, leases = await client.request("GET", LEASES)
        assert len([x for x in leases["items"] if x["metadata"]["name"].startswith("apiserver-endpoint-")]) == 1

        # An API server that died leaves a lease nobody renews: it drops out once expired.
        old = (dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        dead = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                "metadata": {"name": "apiserver-endpoint-dead", "labels": {"apiserver.pyctl.io/endpoint": "true"}},
                "spec": {"holderIdentity": "127.0.0.9:6443", "leaseDurationSeconds": 15, "renewTime": old}}
        assert (await client.request("POST", LEASES, dead))[0] == 201
        fresh = {**dead, "metadata": {**dead["metadata"], "name": "apiserver-endpoint-live"},
                 "spec": {**dead["spec"], "holderIdentity": "127.0.0.8:6443",
                          "renewTime": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")}}
        assert (await client.request("POST", LEASES, fresh))[0] == 201
        await wait_until(lambda: _addresses(client, {("127.0.0.1", a.port), ("127.0.0.8", 6443)}), 10)
    finally:
        await client.close()
        await b.stop()
        await a.stop()


async def test_a_server_without_an_advertised_address_still_serves_the_service(client):
    code, svc = await client.request("GET", "/api/v1/namespaces/default/services/kubernetes")
    assert code == 200 and svc["metadata"]["labels"] == {"component": "apiserver", "provider": "kubernetes"}
    await wait_until(lambda: _addresses(client, set()), 10)  # written by its first pass


async def _addresses(client: Client, wanted: set[tuple[str, int]]) -> bool:
    code, ep = await client.request("GET", EP)
    return code == 200 and addresses(ep) == wanted


def test_advertise_address_is_one_the_api_server_listens_on(capsys):
    import pytest

    from controlplane.main import parse_args

    def parsed(*flags: str):
        args = parse_args(["--etcd-servers", "http://127.0.0.1:2379", *flags])
        return args.listen_addresses, args.advertise

    assert parsed() == ([("127.0.0.1", 6443)], None)  # loopback only: pods cannot use it
    assert parsed("--listen", "127.0.0.1:6443,172.30.1.1:6443")[1] == ("172.30.1.1", 6443)
    assert parsed("--listen", "0.0.0.0:7000", "--advertise-address", "10.0.0.1")[1] == ("10.0.0.1", 7000)
    with pytest.raises(SystemExit):
        parsed("--advertise-address", "10.0.0.1")
    assert ("--advertise-address 10.0.0.1 is not an address the API server listens on (--listen "
            "127.0.0.1:6443); add it, e.g. --listen 127.0.0.1:6443,10.0.0.1:6443") in capsys.readouterr().err
