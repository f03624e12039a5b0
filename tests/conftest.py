"""Fixtures: a real etcd per test, and the real API server on loopback HTTP."""

from __future__ import annotations

import pytest

from .cluster import ApiServer, Client, Etcd


@pytest.fixture
def etcd():
    server = Etcd().start()
    yield server
    server.stop()


@pytest.fixture
async def api(etcd):
    server = await ApiServer(etcd).start()
    yield server
    await server.stop()


@pytest.fixture
async def client(api):
    c = Client(api.url)
    yield c
    await c.close()
