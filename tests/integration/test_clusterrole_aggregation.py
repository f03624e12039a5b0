"""Aggregated ClusterRoles: a role labelled aggregate-to-view extends view, edit and admin.

Against real etcd, the secured API server (RBAC: the bootstrap roles exist) and the
controller manager running only the clusterrole-aggregation controller.
"""

from __future__ import annotations

import pytest

from controlplane.controllers.manager import ControllerManager

from ..cluster import wait_until
from .secure_api import SecureApiServer, call

CLUSTER_ROLES = "/apis/rbac.authorization.k8s.io/v1/clusterroles"
WIDGETS = {"apiGroups": ["example.com"], "resources": ["widgets"], "verbs": ["get", "list"]}


@pytest.fixture
async def client(etcd, tmp_path):
    server = await SecureApiServer(etcd, tmp_path).start()
    manager = ControllerManager(server.url, leader_election=False, controllers=("clusterrole-aggregation",))
    await manager.start()
    async with server.session("admin") as admin:
        yield admin
    await manager.stop()
    await server.stop()


async def rules(client, name: str) -> list[dict]:
    code, role = await call(client, "GET", f"{CLUSTER_ROLES}/{name}")
    assert code == 200
    return role["rules"]


async def test_labelled_role_extends_view_edit_and_admin_and_leaves_on_delete(client):
    view_before = await rules(client, "view")
    edit_before = await rules(client, "edit")
    assert view_before and all(r in edit_before for r in view_before)  # bootstrap filled them in
    widgets = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
               "metadata": {"name": "widgets-view",
                            "labels": {"rbac.authorization.k8s.io/aggregate-to-view": "true"}},
               "rules": [WIDGETS]}
    assert (await call(client, "POST", CLUSTER_ROLES, widgets))[0] == 201

    async def everywhere(present: bool) -> bool:
        found = [WIDGETS in await rules(client, n) for n in ("view", "edit", "admin")]
        return found == [present] * 3
    await wait_until(lambda: everywhere(True), timeout=30)
    # A role that only some aggregate: edit's own writes never reach view.
    assert not any("create" in r["verbs"] for r in await rules(client, "view"))
    assert (await call(client, "DELETE", f"{CLUSTER_ROLES}/widgets-view"))[0] == 200
    await wait_until(lambda: everywhere(False), timeout=30)
    assert await rules(client, "view") == view_before
