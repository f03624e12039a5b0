"""The dashboard's actions: the page names an action and its parameters, and only a checked,
fixed pyctl command line can come out; its assets all ship as package data."""

from __future__ import annotations

import fnmatch
import tomllib
from pathlib import Path

import pytest

from pyctl.dashboard.actions import BadParams, command_line, shown

ROOT = Path(__file__).resolve().parents[2]
OBJ = {"resource": "deployments.apps", "namespace": "default", "name": "web"}


def test_each_action_is_the_pyctl_command_a_user_would_type() -> None:
    assert shown(command_line("scale", {**OBJ, "replicas": 5})) == \
        "pyctl scale deployments.apps/web -n default --replicas=5"
    assert command_line("restart", OBJ) == ["rollout", "restart", "deployments.apps/web", "-n", "default"]
    assert command_line("undo", {**OBJ, "revision": 0})[-1] == "--to-revision=0"
    assert command_line("cordon", {"name": "node-1"}) == ["cordon", "node-1"]
    assert command_line("drain", {"name": "node-1", "flags": ["--force", "--ignore-daemonsets"]}) == \
        ["drain", "node-1", "--ignore-daemonsets", "--force", "--timeout=5m"]
    assert command_line("delete", {"resource": "pods", "namespace": "ns", "name": "p-1"}) == \
        ["delete", "pods/p-1", "-n", "ns", "--wait=false"]


@pytest.mark.parametrize("name, params, problem", [
    ("apply", OBJ, "unknown action 'apply'"),
    ("scale", {**OBJ, "name": "--kubeconfig=/etc/x"}, "is not a valid name"),
    ("scale", {**OBJ, "namespace": "-A"}, "is not a valid name"),
    ("scale", {**OBJ, "resource": "pods/x"}, "is not a resource name"),
    ("scale", {**OBJ, "replicas": -1}, "is not a whole number"),
    ("scale", {**OBJ, "replicas": True}, "is not a whole number"),
    ("scale", {**OBJ, "replicas": "3"}, "is not a whole number"),
    ("drain", {"name": "n", "flags": ["--disable-eviction"]}, "flags: choose among"),
    ("cordon", ["n"], "must be a JSON object"),
])
def test_anything_else_is_refused(name: str, params: object, problem: str) -> None:
    with pytest.raises(BadParams, match=problem.replace("(", r"\(")):
        command_line(name, params)  # type: ignore[arg-type]


def test_every_asset_of_the_page_is_package_data() -> None:
    static = ROOT / "pyctl" / "dashboard" / "static"
    globs = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["pyctl.dashboard"]
    files = [p.relative_to(static.parent).as_posix() for p in static.rglob("*") if p.is_file()]
    assert "static/index.html" in files and "static/js/main.js" in files
    missing = [f for f in files if not any(fnmatch.fnmatch(f, g) and f.count("/") == g.count("/") for g in globs)]
    assert missing == [], f"add these to [tool.setuptools.package-data] in pyproject.toml: {missing}"
