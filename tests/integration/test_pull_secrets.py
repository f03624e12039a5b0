"""imagePullSecrets: a pod's dockerconfigjson / dockercfg secrets authenticate its pulls from a real
htpasswd-protected docker-registry on loopback; the node's auth file stays the fallback."""

from __future__ import annotations

import base64
import json

import pytest

from agent.images import ImageError
from agent.images.build import busybox_image
from agent.podconfig import PodConfigStore

from .test_images import auth_registry, push, store  # noqa: F401 (fixtures)


def b64(data: str) -> str:
    return base64.b64encode(data.encode()).decode()


def docker_secret(name: str, host: str, password: str, legacy: bool = False) -> dict:
    auth = {"auth": b64(f"pyctl:{password}")}
    if legacy:
        return {"type": "kubernetes.io/dockercfg", "metadata": {"name": name},
                "data": {".dockercfg": b64(json.dumps({f"http://{host}": auth}))}}
    return {"type": "kubernetes.io/dockerconfigjson", "metadata": {"name": name},
            "data": {".dockerconfigjson": b64(json.dumps({"auths": {host: auth}}))}}


def pod_with(uid: str, *secrets: str) -> dict:
    return {"metadata": {"name": uid, "namespace": "default", "uid": uid},
            "spec": {"imagePullSecrets": [{"name": s} for s in secrets], "containers": []}}


@pytest.fixture
async def private_image(auth_registry, tmp_path):  # noqa: F811
    auth_file = tmp_path / "push-auth.json"
    auth_file.write_text(json.dumps({"auths": {auth_registry.host: {"username": "pyctl", "password": "s3cret"}}}))
    ref = f"{auth_registry.host}/private/app:1"
    await push(ref, busybox_image(), str(auth_file))
    return ref


async def test_pod_pull_secrets_authenticate_only_that_pod_s_pulls(auth_registry, store, private_image):  # noqa: F811
    host = auth_registry.host
    configs = PodConfigStore()
    objects = {("Secret", "default", "bad"): docker_secret("bad", host, "wrong"),
               ("Secret", "default", "good"): docker_secret("good", host, "s3cret"),
               ("Secret", "default", "old"): docker_secret("old", host, "s3cret", legacy=True)}
    for uid, secrets in (("p-bad", ("bad", "good")), ("p-good", ("missing", "good")), ("p-old", ("old",)),
                         ("p-none", ())):
        configs.set(pod_with(uid, *secrets), objects)

    with configs.pulling(pod_with("p-bad", "bad", "good")):  # the first secret for a host wins
        with pytest.raises(ImageError) as e:
            await store.ensure(private_image, "Always")
    assert e.value.reason == "ErrImagePull" and "unauthorized" in e.value.message and not e.value.temporary

    with configs.pulling(pod_with("p-good", "missing", "good")):  # a missing secret is skipped
        img = await store.ensure(private_image, "Always")
    assert img.config.cmd == ["sh"]

    # The good pod's cached credentials serve nobody else: outside a pod, and with the wrong
    # secret, a fresh pull is refused again.
    with pytest.raises(ImageError) as e:
        await store.ensure(private_image, "Always")
    assert "unauthorized: authentication required" in e.value.message
    with configs.pulling(pod_with("p-bad", "bad")), pytest.raises(ImageError):
        await store.ensure(private_image, "Always")

    with configs.pulling(pod_with("p-old", "old")):  # legacy kubernetes.io/dockercfg
        assert (await store.ensure(private_image, "Always")).config.cmd == ["sh"]
