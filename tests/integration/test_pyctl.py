"""pyctl against the real API server: the acceptance sequence, and every way input can be wrong.

pyctl runs as a user runs it (`python -m pyctl --server URL ...`, in a subprocess); what it
changed is checked through the API, not through pyctl itself.
"""

from __future__ import annotations

import asyncio
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import yaml

from tests.cluster import free_port

REPO = Path(__file__).resolve().parents[2]
DEPLOYMENT = REPO / "manifests" / "deployment.yaml"


@dataclass
class Result:
    code: int
    out: str
    err: str


async def pyctl(server: str | None, *args: str, stdin: str | None = None, config: Path | None = None,
                timeout: float = 60) -> Result:
    """Run `python -m pyctl [--server URL] ARGS` with its own config file."""
    env = {**os.environ, "PYTHONPATH": str(REPO),
           "PYCTL_CONFIG": str(config or Path(os.environ.get("TMPDIR", "/tmp")) / f"pyctl-test-{os.getpid()}")}
    env.pop("PYCTL_DEBUG", None)
    argv = [sys.executable, "-m", "pyctl", *(["--server", server] if server else []), *args]
    proc = await asyncio.create_subprocess_exec(
        *argv, cwd=str(REPO), env=env, stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(stdin.encode() if stdin else None), timeout)
    result = Result(proc.returncode or 0, out.decode(), err.decode())
    assert "Traceback" not in result.err, result.err
    return result


def manifest(replicas: int = 3, image: str = "localhost:5000/pyctl/demo:1.0") -> str:
    text = DEPLOYMENT.read_text()
    assert "replicas: 3" in text and "localhost:5000/pyctl/demo:1.0" in text
    return text.replace("replicas: 3", f"replicas: {replicas}").replace(
        "localhost:5000/pyctl/demo:1.0", image)


POD = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "solo", "labels": {"app": "solo"}},
       "spec": {"containers": [{"name": "c", "image": "busybox"}]}}


async def test_acceptance_apply_scale_get_delete(api, client, tmp_path):
    # apply creates it
    r = await pyctl(api.url, "apply", "-f", str(DEPLOYMENT))
    assert (r.code, r.out) == (0, "deployment.apps/myapp created\n")
    status, live = await client.request("GET", "/apis/apps/v1/namespaces/default/deployments/myapp")
    assert status == 200 and live["spec"]["replicas"] == 3
    assert "kubectl.kubernetes.io/last-applied-configuration" in live["metadata"]["annotations"]

    # the same manifest again sends nothing
    r = await pyctl(api.url, "apply", "-f", str(DEPLOYMENT))
    assert (r.code, r.out) == (0, "deployment.apps/myapp unchanged\n")
    _, again = await client.request("GET", "/apis/apps/v1/namespaces/default/deployments/myapp")
    assert again["metadata"]["resourceVersion"] == live["metadata"]["resourceVersion"]

    # an edited manifest changes it
    edited = tmp_path / "deployment.yaml"
    edited.write_text(manifest(replicas=4, image="localhost:5000/pyctl/demo:1.1"))
    r = await pyctl(api.url, "apply", "-f", str(edited))
    assert (r.code, r.out) == (0, "deployment.apps/myapp configured\n")
    _, live = await client.request("GET", "/apis/apps/v1/namespaces/default/deployments/myapp")
    assert live["spec"]["replicas"] == 4
    assert live["spec"]["template"]["spec"]["containers"][0]["image"] == "localhost:5000/pyctl/demo:1.1"

    # scale
    r = await pyctl(api.url, "scale", "deployment", "myapp", "--replicas=5")
    assert (r.code, r.out) == (0, "deployment.apps/myapp scaled\n")
    _, live = await client.request("GET", "/apis/apps/v1/namespaces/default/deployments/myapp")
    assert live["spec"]["replicas"] == 5

    # get -o yaml shows it (without managedFields)
    r = await pyctl(api.url, "get", "deploy", "myapp", "-o", "yaml")
    shown = yaml.safe_load(r.out)
    assert r.code == 0 and shown["kind"] == "Deployment" and shown["spec"]["replicas"] == 5
    assert "managedFields" not in shown["metadata"]

    # get pods -o wide: the wide header
    assert (await client.request("POST", "/api/v1/namespaces/default/pods", POD))[0] == 201
    r = await pyctl(api.url, "get", "pods", "-o", "wide")
    assert r.out.splitlines()[0].split() == ["NAME", "READY", "STATUS", "RESTARTS", "AGE", "IP", "NODE",
                                             "NOMINATED", "NODE", "READINESS", "GATES"]
    assert r.out.splitlines()[1].startswith("solo ")

    # delete -f removes it, and waits until it is gone
    r = await pyctl(api.url, "delete", "-f", str(edited))
    assert (r.code, r.out) == (0, 'deployment.apps "myapp" deleted from default namespace\n')
    status, _ = await client.request("GET", "/apis/apps/v1/namespaces/default/deployments/myapp")
    assert status == 404


async def test_table_columns_line_up_like_kubectl(api, client):
    for name in ("a", "a-much-longer-name"):
        await client.request("POST", "/api/v1/namespaces/default/configmaps",
                             {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name},
                              "data": {"k": "v"}})
    r = await pyctl(api.url, "get", "cm")
    lines = r.out.splitlines()
    assert [line.split()[:2] for line in lines] == [["NAME", "DATA"], ["a", "1"], ["a-much-longer-name", "1"]]
    # every column starts where its header starts; columns are 3 spaces apart
    assert lines[0].index("DATA") == len("a-much-longer-name") + 3
    assert all(line[lines[0].index("DATA")] != " " for line in lines)


async def test_malformed_yaml_names_file_and_line_and_changes_nothing(api, client, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: first\n---\n"
                   "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: second\ndata:\n  a: b: c\n")
    r = await pyctl(api.url, "apply", "-f", str(bad))
    assert r.code == 1 and r.out == ""
    assert r.err == (f"error: error parsing {bad} (document 2): yaml: line 11, column 7: "
                     "mapping values are not allowed in this context\n")
    assert (await client.request("GET", "/api/v1/namespaces/default/configmaps/first"))[0] == 404


async def test_unknown_kind_is_refused_before_anything_is_written(api, client, tmp_path):
    f = tmp_path / "f.yaml"
    f.write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: first}\n---\n"
                 "apiVersion: v1\nkind: Foo\nmetadata: {name: x}\n")
    r = await pyctl(api.url, "apply", "-f", str(f))
    assert r.code == 1
    assert r.err.splitlines()[0] == (f'error: resource mapping not found for name: "x" namespace: "" from '
                                     f'"{f}": no matches for kind "Foo" in version "v1"')
    assert (await client.request("GET", "/api/v1/namespaces/default/configmaps/first"))[0] == 404


async def test_invalid_second_document_leaves_the_first_unwritten(api, client, tmp_path):
    f = tmp_path / "f.yaml"
    f.write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: first}\ndata: {a: b}\n---\n"
                 + manifest().replace("replicas: 3", "replicas: -1"))
    for verb in ("apply", "create"):
        r = await pyctl(api.url, verb, "-f", str(f))
        assert (r.code, r.out) == (1, "")
        assert r.err == (f'error: {f} (document 2): The Deployment "myapp" is invalid: spec.replicas: '
                         "Invalid value: -1: must be greater than or equal to 0\n")
        assert (await client.request("GET", "/api/v1/namespaces/default/configmaps/first"))[0] == 404
        assert (await client.request("GET", "/apis/apps/v1/namespaces/default/deployments/myapp"))[0] == 404


async def test_unknown_fields_are_rejected_with_the_document_named(api, client, tmp_path):
    f = tmp_path / "f.yaml"
    f.write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cm}\ndatta: {a: b}\n")
    r = await pyctl(api.url, "apply", "-f", str(f))
    assert r.code == 1
    assert r.err.startswith(f"error: {f} (document 1): Error from server (BadRequest): ")
    assert "datta" in r.err
    assert (await client.request("GET", "/api/v1/namespaces/default/configmaps/cm"))[0] == 404


async def test_objects_in_a_namespace_the_input_creates_are_applied(api, client, tmp_path):
    f = tmp_path / "f.yaml"
    f.write_text("apiVersion: v1\nkind: Namespace\nmetadata: {name: team}\n---\n"
                 "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cm, namespace: team}\n")
    r = await pyctl(api.url, "apply", "-f", str(f))
    assert (r.code, r.out) == (0, "namespace/team created\nconfigmap/cm created\n")
    assert (await client.request("GET", "/api/v1/namespaces/team/configmaps/cm"))[0] == 200


async def test_unreachable_server_is_one_clear_line(tmp_path):
    url = f"http://127.0.0.1:{free_port()}"
    r = await pyctl(url, "get", "pods")
    assert r.code == 1 and r.out == ""
    assert r.err == (f"error: cannot reach the API server at {url}: connection refused — is "
                     "pyctl-controlplane running? ('pyctl cluster up' starts a local cluster)\n")


async def test_not_found_reads_like_kubectl(api):
    r = await pyctl(api.url, "get", "deployments", "nosuch")
    assert (r.code, r.err) == (1, 'Error from server (NotFound): deployments.apps "nosuch" not found\n')
    r = await pyctl(api.url, "scale", "deploy", "nosuch", "--replicas=2")
    assert (r.code, r.err) == (1, 'Error from server (NotFound): deployments.apps "nosuch" not found\n')
    r = await pyctl(api.url, "delete", "svc", "nosuch")
    assert (r.code, r.err) == (1, 'Error from server (NotFound): services "nosuch" not found\n')
    r = await pyctl(api.url, "get", "gizmos")
    assert (r.code, r.err) == (1, 'error: the server doesn\'t have a resource type "gizmos"\n')


async def test_server_side_apply_and_server_dry_run(api, client, tmp_path):
    r = await pyctl(api.url, "apply", "--dry-run=server", "-f", str(DEPLOYMENT))
    assert (r.code, r.out) == (0, "deployment.apps/myapp created (server dry run)\n")
    assert (await client.request("GET", "/apis/apps/v1/namespaces/default/deployments/myapp"))[0] == 404

    r = await pyctl(api.url, "apply", "--server-side", "-f", str(DEPLOYMENT))
    assert (r.code, r.out) == (0, "deployment.apps/myapp serverside-applied\n")
    status, live = await client.request("GET", "/apis/apps/v1/namespaces/default/deployments/myapp")
    assert status == 200 and live["spec"]["replicas"] == 3


async def test_create_refuses_existing_objects_as_kubectl_does(api, client):
    r = await pyctl(api.url, "create", "-f", str(DEPLOYMENT))
    assert (r.code, r.out) == (0, "deployment.apps/myapp created\n")
    r = await pyctl(api.url, "create", "-f", str(DEPLOYMENT))
    assert r.code == 1
    assert r.err == (f'Error from server (AlreadyExists): error when creating "{DEPLOYMENT}": '
                     'deployments.apps "myapp" already exists\n')
    r = await pyctl(api.url, "apply", "-f", str(DEPLOYMENT))
    assert r.out == "deployment.apps/myapp configured\n"
    assert "is missing the kubectl.kubernetes.io/last-applied-configuration annotation" in r.err


async def test_apply_reads_stdin_and_directories(api, client, tmp_path):
    r = await pyctl(api.url, "apply", "-f", "-", stdin=manifest())
    assert r.out == "deployment.apps/myapp created\n"
    r = await pyctl(api.url, "apply", "-f", str(REPO / "manifests"))
    assert r.out.splitlines() == ["deployment.apps/myapp unchanged", "ingress.networking.k8s.io/myapp created",
                                  "service/myapp created"]


async def test_apply_removes_what_the_manifest_stopped_declaring(api, client, tmp_path):
    doc = yaml.safe_load(manifest())
    web = doc["spec"]["template"]["spec"]["containers"][0]
    web["env"] = [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]
    doc["spec"]["template"]["spec"]["containers"].append({"name": "side", "image": "busybox"})
    doc["metadata"]["labels"]["tier"] = "front"
    f = tmp_path / "d.yaml"
    f.write_text(yaml.safe_dump(doc))
    assert (await pyctl(api.url, "apply", "-f", str(f))).out == "deployment.apps/myapp created\n"

    doc["spec"]["template"]["spec"]["containers"].pop()
    web["env"] = [{"name": "B", "value": "3"}]
    del doc["metadata"]["labels"]["tier"]
    f.write_text(yaml.safe_dump(doc))
    assert (await pyctl(api.url, "apply", "-f", str(f))).out == "deployment.apps/myapp configured\n"
    _, live = await client.request("GET", "/apis/apps/v1/namespaces/default/deployments/myapp")
    containers = live["spec"]["template"]["spec"]["containers"]
    assert [c["name"] for c in containers] == ["web"]
    assert containers[0]["env"] == [{"name": "B", "value": "3"}]
    assert live["metadata"]["labels"] == {"app": "myapp"}


async def test_delete_by_selector_and_all(api, client):
    for name, app in (("a", "web"), ("b", "web"), ("c", "db")):
        await client.request("POST", "/api/v1/namespaces/default/configmaps",
                             {"apiVersion": "v1", "kind": "ConfigMap",
                              "metadata": {"name": name, "labels": {"app": app}}})
    r = await pyctl(api.url, "delete", "cm", "-l", "app=web")
    assert r.out.splitlines() == ['configmap "a" deleted from default namespace',
                                  'configmap "b" deleted from default namespace']
    r = await pyctl(api.url, "delete", "cm", "--all")
    assert r.out == 'configmap "c" deleted from default namespace\n'
    r = await pyctl(api.url, "delete", "cm", "--all")
    assert (r.code, r.out) == (0, "No resources found\n")
    r = await pyctl(api.url, "delete", "cm")
    assert (r.code, r.err) == (1, "error: resource(s) were provided, but no name was specified\n")
