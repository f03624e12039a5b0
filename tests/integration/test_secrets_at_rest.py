"""Secrets are sealed in etcd's bytes and read back whole through the API (list, get, watch)."""

from __future__ import annotations

import asyncio
import base64
import json
import os

import aiohttp
import pytest
import yaml

from controlplane.api.app import build_app
from controlplane.api.config import ApiConfig
from controlplane.store import Store, encryption

from ..cluster import ApiServer, Client

SECRETS = "/api/v1/namespaces/default/secrets"
PASSWORD = base64.b64encode(b"hunter2-not-in-etcd").decode()


def secret(name: str) -> dict:
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name},
            "type": "Opaque", "data": {"password": PASSWORD}}


async def raw_value(etcd, key: str) -> bytes:
    store = Store([etcd.url])  # no transformer: the bytes as etcd holds them
    try:
        kv = await store.get(key)
        assert kv is not None
        return kv.value
    finally:
        await store.close()


@pytest.fixture
def enc_config(tmp_path):
    path = tmp_path / "encryption.yaml"
    encryption.write_new_config(path)
    return path


async def test_secret_values_are_not_readable_in_etcd(etcd, enc_config):
    api = await ApiServer(etcd, encryption_provider_config=str(enc_config)).start()
    client = Client(api.url)
    try:
        async with client.session.get(f"{api.url}{SECRETS}?watch=1") as watch:
            assert (await client.request("POST", SECRETS, secret("db")))[0] == 201
            event = json.loads(await asyncio.wait_for(watch.content.readline(), 10))
        assert event["type"] == "ADDED" and event["object"]["data"]["password"] == PASSWORD
        status, got = await client.request("GET", f"{SECRETS}/db")
        assert status == 200 and got["data"]["password"] == PASSWORD
        _, listed = await client.request("GET", SECRETS)
        assert [s["data"]["password"] for s in listed["items"]] == [PASSWORD]

        raw = await raw_value(etcd, "/registry/secrets/default/db")
        assert raw.startswith(b"k8s:enc:aesgcm:v1:key1:")
        assert PASSWORD.encode() not in raw and b"hunter2" not in raw and b'"password"' not in raw
        # An update is sealed again; a ConfigMap is not a Secret and stays plain.
        patch = {"metadata": {"labels": {"rotated": "yes"}}}
        assert (await client.request("PATCH", f"{SECRETS}/db", patch, headers={
            "Content-Type": "application/merge-patch+json"}))[0] == 200
        assert (await raw_value(etcd, "/registry/secrets/default/db")).startswith(b"k8s:enc:")
        cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"k": "v"}}
        assert (await client.request("POST", "/api/v1/namespaces/default/configmaps", cm))[0] == 201
        assert json.loads(await raw_value(etcd, "/registry/configmaps/default/c"))["data"] == {"k": "v"}
    finally:
        await client.close()
        await api.stop()


async def test_without_the_key_the_api_server_refuses_to_serve_secrets_it_cannot_open(etcd, enc_config,
                                                                                      tmp_path):
    api = await ApiServer(etcd, encryption_provider_config=str(enc_config)).start()
    client = Client(api.url)
    try:
        assert (await client.request("POST", SECRETS, secret("db")))[0] == 201
    finally:
        await client.close()
        await api.stop()
    other = tmp_path / "other.yaml"
    other.write_text(yaml.safe_dump({"apiVersion": "apiserver.config.k8s.io/v1",
                                     "kind": "EncryptionConfiguration", "resources": [{
                                         "resources": ["secrets"], "providers": [{"aesgcm": {"keys": [
                                             {"name": "key9",
                                              "secret": base64.b64encode(os.urandom(32)).decode()}]}}]}]}))
    app = build_app(ApiConfig(etcd_servers=(etcd.url,), encryption_provider_config=str(other)))
    runner = aiohttp.web.AppRunner(app)
    with pytest.raises(encryption.DecryptError, match="key1.*not in the encryption configuration"):
        await runner.setup()
    await runner.cleanup()


async def test_string_data_is_merged_into_data_and_never_stored(client, etcd):
    body = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"},
            "data": {"a": base64.b64encode(b"old").decode(), "b": base64.b64encode(b"kept").decode()},
            "stringData": {"a": "new", "c": "plain text"}}
    status, created = await client.request("POST", SECRETS, body)
    assert status == 201 and "stringData" not in created
    assert {k: base64.b64decode(v).decode() for k, v in created["data"].items()} == {
        "a": "new", "b": "kept", "c": "plain text"}
    patch = {"stringData": {"b": "patched"}}
    status, got = await client.request("PATCH", f"{SECRETS}/s", patch, headers={
        "Content-Type": "application/merge-patch+json"})
    assert status == 200 and base64.b64decode(got["data"]["b"]) == b"patched" and "stringData" not in got
    assert b"stringData" not in await raw_value(etcd, "/registry/secrets/default/s")
