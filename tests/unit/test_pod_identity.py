"""A pod's identity on the node: ServiceAccount admission, the token volume the agent writes and
renews (with a fake clock and a fake gateway: the real one is exercised in e2e), and the
KUBERNETES_SERVICE_* variables."""

from __future__ import annotations

import asyncio
import os

import pytest

from agent import configvolumes
from agent.lookup import Lookup
from agent.podconfig import PodConfigStore
from agent.podtokens import PodTokens
from agent.runtime.bundle import ConfigError
from agent.serviceenv import service_env
from controlplane.api import errors
from controlplane.api.admission import serviceaccount as sa_admission
from controlplane.resources import registry
from pyctl_proto import node_pb2 as pb

PODS = registry.lookup("", "v1", "pods")


def pod(**spec) -> dict:
    return {"metadata": {"name": "p", "namespace": "team", "uid": "u-1"},
            "spec": {"serviceAccountName": "default",
                     "containers": [{"name": "a", "image": "x"}, {"name": "b", "image": "x"}], **spec}}


# -- admission ------------------------------------------------------------------------------

def test_admission_mounts_the_token_volume_in_every_container():
    p = pod(initContainers=[{"name": "init", "image": "x"}])
    sa_admission.admit(PODS, p, lambda ns, name: {"metadata": {"name": name}})
    (volume,) = p["spec"]["volumes"]
    assert volume["name"].startswith("kube-api-access-") and len(volume["name"]) == len("kube-api-access-") + 5
    sources = volume["projected"]["sources"]
    assert sources[0] == {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}}
    assert sources[1]["configMap"] == {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}
    assert sources[2]["downwardAPI"]["items"][0]["fieldRef"]["fieldPath"] == "metadata.namespace"
    for c in p["spec"]["containers"] + p["spec"]["initContainers"]:
        assert c["volumeMounts"] == [{"name": volume["name"], "readOnly": True,
                                      "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount"}]


@pytest.mark.parametrize("pod_says,account_says,mounted", [
    (None, None, True), (False, None, False), (None, False, False), (True, False, True), (False, True, False)])
def test_automount_is_the_pods_choice_then_the_accounts(pod_says, account_says, mounted):
    p = pod() if pod_says is None else pod(automountServiceAccountToken=pod_says)
    account = {"metadata": {"name": "default"}}
    if account_says is not None:
        account["automountServiceAccountToken"] = account_says
    sa_admission.admit(PODS, p, lambda ns, name: account)
    assert bool(p["spec"].get("volumes")) is mounted


def test_a_container_mounting_the_path_itself_is_left_alone_and_a_missing_account_refused():
    p = pod()
    p["spec"]["containers"][0]["volumeMounts"] = [{"name": "mine", "mountPath": sa_admission.MOUNT_PATH}]
    sa_admission.admit(PODS, p, lambda ns, name: {})
    assert [m["name"] for m in p["spec"]["containers"][0]["volumeMounts"]] == ["mine"]
    assert p["spec"]["containers"][1]["volumeMounts"][0]["mountPath"] == sa_admission.MOUNT_PATH
    with pytest.raises(errors.ApiError) as refused:
        sa_admission.admit(PODS, pod(serviceAccountName="builder"), lambda ns, name: None)
    assert refused.value.code == 403
    assert refused.value.message == ('pods "p" is forbidden: error looking up service account team/builder: '
                                     'serviceaccount "builder" not found')
    sa_admission.admit(PODS, pod(), lambda ns, name: None)  # `default` is made by a controller: admitted


# -- the token volume -----------------------------------------------------------------------

class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Gateway:
    """Stands in for NodeService.PodToken: numbered tokens, an hour each unless asked otherwise."""

    def __init__(self, clock: Clock) -> None:
        self.clock, self.asked = clock, []

    async def __call__(self, request: pb.PodTokenRequest) -> pb.IssuedToken:
        self.asked.append(request)
        return pb.IssuedToken(token=f"token-{len(self.asked)}",
                              expiration_unix=int(self.clock.now + request.expiration_seconds))


def admitted() -> dict:
    p = pod()
    sa_admission.admit(PODS, p, lambda ns, name: {})
    return p


async def test_tokens_are_renewed_at_80_percent_and_the_volume_swapped_atomically(tmp_path):
    clock = Clock()
    gateway = Gateway(clock)
    store = PodConfigStore("192.0.2.1")
    store.tokens = PodTokens(gateway, clock)
    p = admitted()
    store.set(p, {("ConfigMap", "team", "kube-root-ca.crt"): {"data": {"ca.crt": "CA PEM"}}})
    await store.prepare(p)
    (name,) = store.volumes(p, tmp_path, "10.0.0.5", tmpfs=False)
    vol = tmp_path / name
    assert (vol / "token").read_text() == "token-1"
    assert (vol / "ca.crt").read_text() == "CA PEM" and (vol / "namespace").read_text() == "team"
    assert os.readlink(vol / "token") == "..data/token"
    (req,) = gateway.asked
    assert (req.namespace, req.pod, req.uid, req.expiration_seconds) == ("team", "p", "u-1", 3607)

    refresher = asyncio.create_task(store.refresh_tokens(idle=0.05))
    try:
        clock.now += 0.79 * 3607
        await asyncio.sleep(0.2)
        assert (vol / "token").read_text() == "token-1"  # not due yet
        clock.now += 0.02 * 3607
        for _ in range(100):
            if (vol / "token").read_text() == "token-2":
                break
            await asyncio.sleep(0.02)
        assert (vol / "token").read_text() == "token-2"
        assert len([d for d in vol.iterdir() if d.name.startswith("..2")]) == 1  # the old version is gone
    finally:
        refresher.cancel()
        await asyncio.gather(refresher, return_exceptions=True)


async def test_without_a_token_the_volume_is_not_written():
    p = admitted()
    store = PodConfigStore()
    with pytest.raises(ConfigError):
        configvolumes.contents(p["spec"]["volumes"][0], Lookup(p, {}), lambda f: "", lambda c, r: "")
    store.tokens = PodTokens(Gateway(Clock()))
    with pytest.raises(ConfigError, match="no ServiceAccount token"):
        store.tokens.token(p, {"path": "token"})


# -- KUBERNETES_SERVICE_* -------------------------------------------------------------------

def test_every_pod_gets_the_kubernetes_service_variables():
    table = pb.ServiceTable(services=[
        pb.ServiceEntry(namespace="default", name="kubernetes", cluster_ip="10.96.0.1",
                        ports=[pb.ServicePortEntry(name="https", protocol="TCP", port=443)]),
        pb.ServiceEntry(namespace="default", name="web", cluster_ip="10.96.0.9",
                        ports=[pb.ServicePortEntry(name="", protocol="TCP", port=80)])])
    expected = {"KUBERNETES_SERVICE_HOST": "10.96.0.1", "KUBERNETES_SERVICE_PORT": "443",
                "KUBERNETES_SERVICE_PORT_HTTPS": "443", "KUBERNETES_PORT": "tcp://10.96.0.1:443",
                "KUBERNETES_PORT_443_TCP": "tcp://10.96.0.1:443", "KUBERNETES_PORT_443_TCP_PROTO": "tcp",
                "KUBERNETES_PORT_443_TCP_PORT": "443", "KUBERNETES_PORT_443_TCP_ADDR": "10.96.0.1"}
    assert service_env(table, {"metadata": {"namespace": "team"}, "spec": {}}) == expected
    assert service_env(table, {"metadata": {"namespace": "default"},
                               "spec": {"enableServiceLinks": False}}) == expected
    assert "WEB_SERVICE_HOST" in service_env(table, {"metadata": {"namespace": "default"}, "spec": {}})
