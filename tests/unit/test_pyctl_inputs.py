"""pyctl's inputs: the kubeconfig file, manifests, and how errors read."""

from __future__ import annotations

import io
import os
import stat

import pytest

from pyctl import manifests
from pyctl.config import DEFAULT_SERVER, KubeConfig, config_path
from pyctl.errors import ApiError, CommandError, UnreachableError, UsageError

# -- config -------------------------------------------------------------------------------------


def test_config_path_prefers_flag_then_environment_then_home(monkeypatch, tmp_path):
    monkeypatch.setenv("PYCTL_CONFIG", str(tmp_path / "env"))
    assert config_path(str(tmp_path / "flag")) == str(tmp_path / "flag")
    assert config_path(None) == str(tmp_path / "env")
    monkeypatch.delenv("PYCTL_CONFIG")
    assert config_path(None) == os.path.expanduser("~/.pyctl/config")


def test_missing_config_means_the_local_default_server(tmp_path):
    cfg = KubeConfig.load(str(tmp_path / "none"))
    assert cfg.connection().server == DEFAULT_SERVER
    assert cfg.connection(server="http://10.0.0.1:6443").server == "http://10.0.0.1:6443"


def test_edits_are_saved_as_a_kubeconfig_kubectl_can_read(tmp_path):
    path = str(tmp_path / "sub" / "config")
    cfg = KubeConfig.load(path)
    cfg.set_cluster("local", server="https://10.0.0.1:6443", **{"certificate-authority-data": "Q0E="})
    cfg.set_user("admin", token="secret")
    assert cfg.set_context("local", cluster="local", user="admin", namespace="staging") is True
    cfg.use_context("local")
    cfg.save()
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600  # it holds a token

    again = KubeConfig.load(path)
    conn = again.connection()
    assert (conn.server, conn.token, conn.ca_data, conn.namespace) == (
        "https://10.0.0.1:6443", "secret", "Q0E=", "staging")
    assert again.data["apiVersion"] == "v1" and again.data["kind"] == "Config"
    assert again.set_context("local", namespace="prod") is False  # modified, not created


def test_unknown_context_is_an_error(tmp_path):
    cfg = KubeConfig.load(str(tmp_path / "c"))
    with pytest.raises(CommandError, match='no context exists with the name: "nope"'):
        cfg.use_context("nope")
    with pytest.raises(CommandError, match="context was not found for specified context: nope"):
        cfg.connection(context="nope")


def test_broken_config_file_is_reported_not_crashed_on(tmp_path):
    path = tmp_path / "c"
    path.write_text("clusters: [\n")
    with pytest.raises(CommandError, match="error loading config file"):
        KubeConfig.load(str(path))


# -- manifests ------------------------------------------------------------------------------------

MULTI = """\
# leading comment
apiVersion: v1
kind: ConfigMap
metadata:
  name: one
data:
  when: 2024-01-01
---
---
apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: Service
  metadata: {name: two}
- apiVersion: v1
  kind: Service
  metadata: {name: three}
"""


def test_multi_document_yaml_and_lists_are_flattened_with_their_document_numbers(tmp_path):
    f = tmp_path / "app.yaml"
    f.write_text(MULTI)
    docs = manifests.load([str(f)])
    assert [(d.name, d.index) for d in docs] == [("one", 1), ("two", 2), ("three", 2)]
    assert docs[0].obj["data"]["when"] == "2024-01-01"  # timestamps stay strings, as in Kubernetes


def test_directories_are_read_in_name_order_and_recursively_only_with_R(tmp_path):
    (tmp_path / "b.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: b}\n")
    (tmp_path / "a.json").write_text('{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"}}')
    (tmp_path / "notes.txt").write_text("not a manifest")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "c.yml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n")
    assert [d.name for d in manifests.load([str(tmp_path)])] == ["a", "b"]
    assert [d.name for d in manifests.load([str(tmp_path)], recursive=True)] == ["a", "b", "c"]


def test_stdin_is_read_for_dash():
    docs = manifests.load(["-"], stdin=io.StringIO("apiVersion: v1\nkind: Namespace\nmetadata: {name: x}\n"))
    assert docs[0].where == "STDIN (document 1)"


def test_yaml_errors_name_file_document_and_line(tmp_path):
    f = tmp_path / "bad.yaml"
    f.write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: ok}\n---\n"
                 "apiVersion: v1\nkind: ConfigMap\ndata:\n  a: b: c\n")
    with pytest.raises(manifests.ManifestError) as err:
        manifests.load([str(f)])
    assert err.value.render() == (f"error: error parsing {f} (document 2): yaml: line 8, column 7: "
                                  "mapping values are not allowed in this context")


def test_documents_without_kind_or_api_version_are_rejected(tmp_path):
    f = tmp_path / "bad.yaml"
    f.write_text("metadata: {name: x}\n---\n- a list\n")
    with pytest.raises(manifests.ManifestError) as err:
        manifests.load([str(f)])
    assert err.value.problems == [f"{f} (document 1): apiVersion not set, kind not set",
                                  f"{f} (document 2): expected a Kubernetes object (a mapping), got list"]


def test_missing_file():
    with pytest.raises(CommandError, match='the path "nope.yaml" does not exist'):
        manifests.load(["nope.yaml"])


# -- errors --------------------------------------------------------------------------------------


def status(code: int, reason: str, message: str, **details) -> bytes:
    import json
    body = {"kind": "Status", "status": "Failure", "code": code, "reason": reason, "message": message}
    if details:
        body["details"] = details
    return json.dumps(body).encode()


def test_not_found_reads_like_kubectl():
    exc = ApiError.from_response(404, status(404, "NotFound", 'deployments.apps "x" not found'))
    assert exc.render() == 'Error from server (NotFound): deployments.apps "x" not found'
    assert exc.with_source("deleting", "f.yaml").render() == \
        'Error from server (NotFound): error when deleting "f.yaml": deployments.apps "x" not found'


def test_invalid_is_built_from_the_causes():
    one = ApiError.from_response(422, status(
        422, "Invalid", "...", kind="Deployment", name="web",
        causes=[{"field": "spec.replicas", "message": "Invalid value: -1: must be greater than or equal to 0"}]))
    assert one.render() == ('The Deployment "web" is invalid: spec.replicas: Invalid value: -1: '
                            "must be greater than or equal to 0")
    two = ApiError.from_response(422, status(422, "Invalid", "...", kind="Pod", name="p", causes=[
        {"field": "a", "message": "x"}, {"field": "b", "message": "y"}]))
    assert two.render() == 'The Pod "p" is invalid: \n* a: x\n* b: y'


def test_non_status_bodies_still_give_a_message():
    assert ApiError.from_response(404, b"404 page").render() == \
        "Error from server (NotFound): the server could not find the requested resource"
    assert "has prevented the request from succeeding" in ApiError.from_response(502, b"bad gateway").render()


def test_unreachable_and_usage_errors():
    assert UnreachableError("http://x:1", "connection refused").render() == (
        "error: cannot reach the API server at http://x:1: connection refused — is "
        "pyctl-controlplane running? ('pyctl cluster up' starts a local cluster)")
    assert UsageError("bad flag", "get").render() == \
        "error: bad flag\nSee 'pyctl get -h' for help and examples"


def test_durations_accept_kubectl_forms():
    import argparse

    from pyctl.commands import duration
    assert [duration(t) for t in ("45", "45s", "2m", "1h", "1m30s")] == [45, 45, 120, 3600, 90]
    with pytest.raises(argparse.ArgumentTypeError):
        duration("soon")


def test_flags_may_come_between_names_as_in_kubectl():
    import subprocess
    import sys

    # A fresh process: the command registry is global state other tests may have narrowed.
    # Port 1 refuses connections, so reaching the network step proves the arguments parsed.
    argv = [sys.executable, "-m", "pyctl", "--server", "http://127.0.0.1:1",
            "describe", "lease", "-n", "kube-system", "pyctl-scheduler"]
    out = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    assert out.returncode == 1 and "cannot reach the API server" in out.stderr, out.stderr
    bad = subprocess.run(argv[:5] + ["get", "pods", "--bogus"], capture_output=True, text=True, timeout=60)
    assert "unknown flag or argument: --bogus" in bad.stderr
