"""Env from Secrets, ConfigMaps and the downward API; $(VAR) expansion; config volume layout."""

from __future__ import annotations

import base64
import os
import shutil
from pathlib import Path

import pytest

from agent import configvolumes
from agent.lookup import Lookup
from agent.podconfig import PodConfigStore, container_env
from agent.runtime import bundle
from agent.runtime.bundle import ConfigError
from agent.runtime.expansion import expand
from controlplane.gateway.podconfig import references


def b64(s: str) -> str:
    return base64.b64encode(s.encode()).decode()


SECRET = {"type": "Opaque", "metadata": {"name": "db", "namespace": "ns"}, "data": {"password": b64("s3cret"),
                                                                                    "user": b64("admin")}}
CONFIG = {"metadata": {"name": "app", "namespace": "ns"}, "data": {"mode": "fast", "level": "3"}}
OBJECTS = {("Secret", "ns", "db"): SECRET, ("ConfigMap", "ns", "app"): CONFIG}


def pod(**spec) -> dict:
    return {"metadata": {"name": "p", "namespace": "ns", "uid": "u-1", "labels": {"app": "web", "tier": "x"},
                         "annotations": {"note": 'say "hi"'}},
            "spec": {"nodeName": "n1", "serviceAccountName": "sa", **spec}}


def env_of(container: dict, objects=OBJECTS, **spec) -> dict[str, str]:
    p = pod(containers=[container], **spec)
    return dict(container_env(p, container, objects, pod_ip="10.0.0.5", host_ip="192.0.2.1"))


@pytest.mark.parametrize("value,expected", [
    ("$(A)-$(B)", "a-$(B)"),          # undefined stays as written
    ("$$(A)", "$(A)"),                # escaped
    ("$$$(A)", "$a"),
    ("x$y", "x$y"),                   # $ before anything else is literal
    ("$(A", "$(A"),                   # unclosed
    ("end$", "end$"),
    ("$()", "$()"),
])
def test_expansion_follows_kubernetes(value, expected):
    assert expand(value, {"A": "a"}) == expected


def test_env_from_secret_configmap_field_and_resource_refs():
    c = {"name": "c", "resources": {"limits": {"memory": "64Mi", "cpu": "250m"}, "requests": {"cpu": "100m"}},
         "envFrom": [{"configMapRef": {"name": "app"}, "prefix": "CFG_"}],
         "env": [
             {"name": "PASS", "valueFrom": {"secretKeyRef": {"name": "db", "key": "password"}}},
             {"name": "MODE", "valueFrom": {"configMapKeyRef": {"name": "app", "key": "mode"}}},
             {"name": "NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
             {"name": "NS", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
             {"name": "UID", "valueFrom": {"fieldRef": {"fieldPath": "metadata.uid"}}},
             {"name": "APP", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['app']"}}},
             {"name": "NOTE", "valueFrom": {"fieldRef": {"fieldPath": "metadata.annotations['note']"}}},
             {"name": "NODE", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}},
             {"name": "SA", "valueFrom": {"fieldRef": {"fieldPath": "spec.serviceAccountName"}}},
             {"name": "IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
             {"name": "HOST", "valueFrom": {"fieldRef": {"fieldPath": "status.hostIP"}}},
             {"name": "MEM_MI", "valueFrom": {"resourceFieldRef": {"resource": "limits.memory", "divisor": "1Mi"}}},
             {"name": "CPU", "valueFrom": {"resourceFieldRef": {"resource": "limits.cpu"}}},
             {"name": "CPU_M", "valueFrom": {"resourceFieldRef": {"resource": "requests.cpu", "divisor": "1m"}}},
             {"name": "DSN", "value": "$(NAME)@$(IP):$(CFG_level) $$(NAME)"},
         ]}
    env = env_of(c)
    assert env["CFG_mode"] == "fast" and env["CFG_level"] == "3"
    assert env["PASS"] == "s3cret" and env["MODE"] == "fast"
    assert (env["NAME"], env["NS"], env["UID"], env["APP"], env["NOTE"]) == ("p", "ns", "u-1", "web", 'say "hi"')
    assert (env["NODE"], env["SA"], env["IP"], env["HOST"]) == ("n1", "sa", "10.0.0.5", "192.0.2.1")
    assert (env["MEM_MI"], env["CPU"], env["CPU_M"]) == ("64", "1", "100")  # cpu rounds up, as Kubernetes
    assert env["DSN"] == "p@10.0.0.5:3 $(NAME)"


def test_envfrom_secret_and_later_env_wins():
    c = {"name": "c", "envFrom": [{"secretRef": {"name": "db"}}], "env": [{"name": "user", "value": "root"}]}
    assert env_of(c) == {"password": "s3cret", "user": "root"}


@pytest.mark.parametrize("env,message", [
    ([{"name": "X", "valueFrom": {"secretKeyRef": {"name": "nope", "key": "k"}}}], 'secret "nope" not found'),
    ([{"name": "X", "valueFrom": {"secretKeyRef": {"name": "db", "key": "k"}}}],
     "couldn't find key k in Secret ns/db"),
    ([{"name": "X", "valueFrom": {"configMapKeyRef": {"name": "nope", "key": "k"}}}], 'configmap "nope" not found'),
    ([{"name": "X", "valueFrom": {"configMapKeyRef": {"name": "app", "key": "k"}}}],
     "couldn't find key k in ConfigMap ns/app"),
])
def test_a_missing_reference_is_a_config_error_in_kubelet_words(env, message):
    with pytest.raises(ConfigError) as err:
        env_of({"name": "c", "env": env})
    assert str(err.value) == message


def test_optional_references_to_missing_things_are_skipped():
    c = {"name": "c", "envFrom": [{"secretRef": {"name": "nope", "optional": True}}],
         "env": [{"name": "A", "valueFrom": {"secretKeyRef": {"name": "nope", "key": "k", "optional": True}}},
                 {"name": "B", "valueFrom": {"configMapKeyRef": {"name": "app", "key": "k", "optional": True}}},
                 {"name": "C", "value": "c"}]}
    assert env_of(c) == {"C": "c"}


def test_command_and_args_expand_against_the_container_env_only():
    c = {"name": "c", "command": ["sh", "-c", "echo $(GREETING) $$(GREETING) $(HOME)"], "args": ["$(GREETING)"],
         "env": [{"name": "GREETING", "value": "hello"}]}
    cfg_env = [("GREETING", "hello")]
    assert bundle.process_args(c, {"Env": ["HOME=/root"]}, cfg_env) == \
        ["sh", "-c", "echo hello $(GREETING) $(HOME)", "hello"]
    assert "GREETING=hello" in bundle.process_env(c, {}, cfg_env)


def test_references_name_every_source_once():
    p = pod(containers=[{"name": "c", "env": [{"name": "A", "valueFrom": {"secretKeyRef": {"name": "s1", "key": "k"}}}],
                         "envFrom": [{"configMapRef": {"name": "c1"}}]}],
            volumes=[{"name": "v", "secret": {"secretName": "s1"}},
                     {"name": "w", "projected": {"sources": [{"configMap": {"name": "c2"}}, {"secret": {"name": "s2"}}]}}],
            imagePullSecrets=[{"name": "pull"}])
    assert references(p) == [("ConfigMap", "ns", "c1"), ("ConfigMap", "ns", "c2"), ("Secret", "ns", "pull"),
                             ("Secret", "ns", "s1"), ("Secret", "ns", "s2")]


def test_volume_layout_is_atomic_and_updates_swap_the_data_link(tmp_path: Path):
    target = tmp_path / "vol"
    assert configvolumes.write_atomic(target, {"a": (b"1", 0o644), "dir/b": (b"2", 0o400)})
    first = os.readlink(target / "..data")
    assert first.startswith("..") and (target / first / "dir" / "b").read_bytes() == b"2"
    assert os.readlink(target / "a") == "..data/a" and (target / "a").read_bytes() == b"1"
    assert ((target / "dir" / "b").stat().st_mode & 0o777) == 0o400
    assert not configvolumes.write_atomic(target, {"a": (b"1", 0o644), "dir/b": (b"2", 0o400)})  # unchanged
    assert configvolumes.write_atomic(target, {"a": (b"new", 0o644)})
    assert (target / "a").read_bytes() == b"new" and not (target / "dir").exists()
    assert not (target / first).exists() and os.readlink(target / "..data") != first


def test_volumes_for_secret_items_configmap_downward_and_projected(tmp_path: Path):
    p = pod(containers=[{"name": "c", "resources": {"limits": {"memory": "32Mi"}}}], volumes=[
        {"name": "s", "secret": {"secretName": "db", "defaultMode": 0o400,
                                 "items": [{"key": "password", "path": "creds/pw"}]}},
        {"name": "cm", "configMap": {"name": "app"}},
        {"name": "d", "downwardAPI": {"items": [
            {"path": "labels", "fieldRef": {"fieldPath": "metadata.labels"}},
            {"path": "mem", "resourceFieldRef": {"containerName": "c", "resource": "limits.memory", "divisor": "1Mi"}}]}},
        {"name": "pr", "projected": {"sources": [{"secret": {"name": "db", "items": [{"key": "user", "path": "u"}]}},
                                                 {"configMap": {"name": "app", "items": [{"key": "mode", "path": "m"}]}},
                                                 {"downwardAPI": {"items": [{"path": "n", "fieldRef": {"fieldPath": "metadata.name"}}]}}]}},
        {"name": "scratch", "emptyDir": {}}])
    store = PodConfigStore("192.0.2.1")
    store.set(p, dict(OBJECTS))
    vols = store.volumes(p, tmp_path, "10.0.0.5", tmpfs=False)
    assert set(vols) == {"s", "cm", "d", "pr"}
    assert (tmp_path / "s" / "creds" / "pw").read_bytes() == b"s3cret"
    assert ((tmp_path / "s" / "creds" / "pw").stat().st_mode & 0o777) == 0o400
    assert (tmp_path / "cm" / "mode").read_text() == "fast"
    assert (tmp_path / "d" / "labels").read_text() == 'app="web"\ntier="x"'
    assert (tmp_path / "d" / "mem").read_text() == "32"
    assert [(tmp_path / "pr" / f).read_text() for f in ("u", "m", "n")] == ["admin", "fast", "p"]
    # An update of the ConfigMap reaches the written volume.
    store.set(p, {**OBJECTS, ("ConfigMap", "ns", "app"): {**CONFIG, "data": {"mode": "slow"}}})
    assert (tmp_path / "cm" / "mode").read_text() == "slow" and not (tmp_path / "cm" / "level").exists()


def test_a_missing_secret_volume_is_a_config_error_unless_optional(tmp_path: Path):
    look = Lookup(pod(), {})
    with pytest.raises(ConfigError, match='secret "gone" not found'):
        configvolumes.contents({"name": "v", "secret": {"secretName": "gone"}}, look, str, lambda c, r: "")
    assert configvolumes.contents({"name": "v", "secret": {"secretName": "gone", "optional": True}},
                                  look, str, lambda c, r: "") == {}
    with pytest.raises(ConfigError, match="invalid volume item path"):
        configvolumes.contents({"name": "v", "configMap": {"name": "app", "items": [{"key": "mode", "path": "../x"}]}},
                               Lookup(pod(), OBJECTS), str, lambda c, r: "")


def test_an_update_after_teardown_recreates_nothing(tmp_path: Path):
    p = pod(containers=[{"name": "c"}], volumes=[{"name": "cm", "configMap": {"name": "app"}}])
    store = PodConfigStore()
    store.set(p, dict(OBJECTS))
    store.volumes(p, tmp_path / "vols", "", tmpfs=False)
    assert (tmp_path / "vols" / "cm" / "mode").read_text() == "fast"
    shutil.rmtree(tmp_path / "vols")  # the runtime stopped the pod
    store.set(p, {**OBJECTS, ("ConfigMap", "ns", "app"): {**CONFIG, "data": {"mode": "slow"}}})
    assert not (tmp_path / "vols").exists()


def test_a_pod_names_its_ip_only_through_a_field_ref_to_status_pod_ip() -> None:
    from agent.runtime.runc import names_pod_ip

    def env(path: str) -> dict:
        return {"spec": {"containers": [{"name": "c", "env": [
            {"name": "X", "valueFrom": {"fieldRef": {"fieldPath": path}}}]}]}}
    assert names_pod_ip(env("status.podIP")) and names_pod_ip(env("status.podIPs"))
    assert not names_pod_ip(env("status.hostIP")) and not names_pod_ip(env("metadata.name"))
    volume = {"spec": {"containers": [{"name": "c"}], "volumes": [{"name": "info", "projected": {"sources": [
        {"downwardAPI": {"items": [{"path": "ip", "fieldRef": {"fieldPath": "status.podIP"}}]}}]}}]}}
    assert names_pod_ip(volume)
    assert not names_pod_ip({"spec": {"containers": [{"name": "c", "env": [{"name": "status.podIP", "value": "x"}]}]}})
