"""The CRD paths of two Python clients from PyPI, lightkube and kr8s, against a real API
server: create a CRD, load its kind (from the CRDs, or from discovery), then create, list,
patch, apply, scale, watch and delete custom objects."""

from __future__ import annotations

import asyncio

import pytest

from .crds import CRDS, established, widget, widget_crd
from .kubectl import write_kubeconfig
from ..cluster import wait_until


@pytest.fixture
def kubeconfig(api, tmp_path):
    return write_kubeconfig(tmp_path / "kubeconfig", api.url)


async def test_lightkube_generic_resources_from_the_cluster_crds(kubeconfig, client):
    from lightkube import AsyncClient, KubeConfig
    from lightkube.codecs import from_dict
    from lightkube.generic_resource import async_load_in_cluster_generic_resources, get_generic_resource
    from lightkube.types import PatchType

    kube = AsyncClient(config=KubeConfig.from_file(str(kubeconfig)), namespace="default")
    try:
        await kube.create(from_dict(widget_crd()))
        await established(client, "widgets.example.com")
        await async_load_in_cluster_generic_resources(kube)  # lists the CRDs
        Widget = get_generic_resource("example.com/v1", "Widget")
        assert Widget is not None
        made = await kube.create(Widget.from_dict(widget("lk", replicas=2)))  # type: ignore[union-attr]
        assert made.spec["replicas"] == 2 and made.metadata.uid
        names = [w.metadata.name async for w in kube.list(Widget)]
        assert names == ["lk"]
        patched = await kube.patch(Widget, "lk", {"spec": {"color": "blue"}}, patch_type=PatchType.MERGE)
        assert patched.spec["color"] == "blue"
        applied = await kube.apply(Widget.from_dict(widget("lk", replicas=3)), field_manager="lightkube",
                                   force=True)
        assert applied.spec["replicas"] == 3
        scale = await kube.get(Widget.Scale, "lk")
        assert scale.spec.replicas == 3
        got = await kube.patch(Widget.Status, "lk", {"status": {"phase": "Ready"}}, patch_type=PatchType.MERGE)
        assert got.status["phase"] == "Ready"
        await kube.delete(Widget, "lk")
        assert [w async for w in kube.list(Widget)] == []
    finally:
        await kube.close()


async def test_kr8s_custom_kinds_found_through_discovery(kubeconfig, client):
    import kr8s.asyncio
    from kr8s.asyncio.objects import CustomResourceDefinition, new_class

    api = await kr8s.asyncio.api(kubeconfig=str(kubeconfig))
    crd = await CustomResourceDefinition(widget_crd(), api=api)
    await crd.create()
    await established(client, "widgets.example.com")
    assert "widgets" in {r["name"] for r in await api.api_resources()}
    Widget = new_class("Widget", "example.com/v1", namespaced=True, scalable=True, scalable_spec="replicas")
    w = await Widget(widget("k8"), api=api)
    await w.create()
    await w.patch({"spec": {"color": "green"}})
    assert w.spec["color"] == "green"
    await w.scale(4)
    await w.refresh()
    assert w.spec["replicas"] == 4
    found = [o.name async for o in api.get("widgets", namespace="default")]
    assert found == ["k8"]
    seen = []

    async def watch_once():
        async for event, obj in api.watch("widgets", namespace="default"):
            seen.append((event, obj.name))
            if event == "DELETED":
                return
    watcher = asyncio.create_task(watch_once())
    await asyncio.sleep(0.3)
    await w.delete()
    await asyncio.wait_for(watcher, 15)
    assert ("DELETED", "k8") in seen
    await crd.delete()

    async def gone():
        return (await client.request("GET", f"{CRDS}/widgets.example.com"))[0] == 404
    await wait_until(gone, timeout=15)
