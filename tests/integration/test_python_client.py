"""The official kubernetes Python client against the API server: create, list, patch, watch, delete."""

from __future__ import annotations

import asyncio

import pytest
from kubernetes import client as k8s
from kubernetes import watch as k8s_watch


@pytest.fixture
def apps(api):
    cfg = k8s.Configuration()
    cfg.host = api.url
    api_client = k8s.ApiClient(cfg)
    yield k8s.AppsV1Api(api_client), k8s.CoreV1Api(api_client), k8s.VersionApi(api_client)
    api_client.close()


def deployment(name: str, replicas: int = 2) -> dict:
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}},
                                  "spec": {"containers": [{"name": "web", "image": "nginx:1.25"}]}}}}


def _sync_flow(apps_api: k8s.AppsV1Api, core: k8s.CoreV1Api, version: k8s.VersionApi) -> None:
    assert version.get_code().minor == "37"
    created = apps_api.create_namespaced_deployment("default", deployment("pyclient"))
    assert created.metadata.uid and created.spec.strategy.type == "RollingUpdate"
    names = [d.metadata.name for d in apps_api.list_namespaced_deployment("default").items]
    assert names == ["pyclient"]
    patched = apps_api.patch_namespaced_deployment("pyclient", "default", {"spec": {"replicas": 4}})
    assert patched.spec.replicas == 4
    scale = apps_api.patch_namespaced_deployment_scale("pyclient", "default", {"spec": {"replicas": 6}})
    assert scale.spec.replicas == 6
    assert apps_api.read_namespaced_deployment_scale("pyclient", "default").status.selector == "app=pyclient"

    rv = apps_api.list_namespaced_deployment("default").metadata.resource_version
    w = k8s_watch.Watch()
    seen = []
    apps_api.patch_namespaced_deployment("pyclient", "default", {"metadata": {"labels": {"x": "1"}}})
    for event in w.stream(apps_api.list_namespaced_deployment, "default", resource_version=rv,
                          timeout_seconds=5):
        seen.append((event["type"], event["object"].metadata.name, event["object"].metadata.labels))
        w.stop()
    assert seen == [("MODIFIED", "pyclient", {"x": "1"})]

    apps_api.delete_namespaced_deployment("pyclient", "default")
    with pytest.raises(k8s.ApiException) as info:
        apps_api.read_namespaced_deployment("pyclient", "default")
    assert info.value.status == 404


async def test_python_client_create_list_patch_watch_delete(apps):
    # The client is synchronous; run it off the event loop that serves the API.
    await asyncio.to_thread(_sync_flow, *apps)
