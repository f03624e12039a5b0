"""Build small OCI images from Debian's busybox-static and push them to a registry.

Used by tests and by `pyctl cluster up` to seed a local registry (nothing is fetched from
the internet): `busybox_image()` is a shell, `demo_image()` is busybox httpd on :8080
(`pyctl/demo:1.0`) under a PID 1 that stops on SIGTERM. `LayerBuilder` also writes whiteouts and opaque markers so tests can
exercise the unpacker. `write_oci_archive()` produces the tar `ImageStore.import_archive` loads.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import subprocess
import tarfile
from dataclasses import dataclass, field
from typing import Any

from .reference import parse_reference
from .registry import DOCKER_MANIFEST, OCI_INDEX, OCI_MANIFEST, RegistryClient, sha256_digest

BUSYBOX = "/bin/busybox"
LAYER_TYPES = {
    "gzip": "application/vnd.oci.image.layer.v1.tar+gzip",
    "zstd": "application/vnd.oci.image.layer.v1.tar+zstd",
    "none": "application/vnd.oci.image.layer.v1.tar",
}
CONFIG_TYPE = "application/vnd.oci.image.config.v1+json"
# Debian's busybox-static is built without wget's timeout support, yet parses `-T N` into a
# NULL pointer: `wget -T 5 ...` dies of SIGSEGV (exit 139) before any lookup. Names resolve
# fine (static glibc resolves through /etc/hosts and DNS without NSS modules). This /bin/wget
# honours -T/--timeout with busybox's `timeout` applet around the real wget instead. It is what
# an exec runs (`kubectl exec POD -- wget -T 5 URL`, exec probes); busybox's own sh prefers its
# applets to PATH, so inside `sh -c` scripts write `timeout 5 wget URL`.
WGET = """#!/bin/sh
# wget, with -T SECONDS (--timeout=SECONDS) bounding the whole transfer
t= want=
for a do
  shift
  if [ -n "$want" ]; then t=$a want=; continue; fi
  case $a in
    -T|--timeout) want=1; continue ;;
    -T*) t=${a#-T}; continue ;;
    --timeout=*) t=${a#--timeout=}; continue ;;
    -[!-]*T) want=1; set -- "$@" "${a%T}"; continue ;;
  esac
  set -- "$@" "$a"
done
[ -n "$t" ] && exec /bin/busybox timeout "$t" /bin/busybox wget "$@"
exec /bin/busybox wget "$@"
"""
# The demo's PID 1. httpd as PID 1 would ignore SIGTERM (the kernel gives PID 1 no default
# signal actions): every stop would wait out the grace period and end in SIGKILL.
SERVE = """#!/bin/sh
# serve [PORT]: busybox httpd on PORT (8080) for /www; SIGTERM or SIGINT stop it at once
httpd -f -v -p "${1:-8080}" -h /www &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid; exit 0' TERM INT
wait $pid
"""
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
_EPOCH = 1_700_000_000  # fixed mtimes: the same inputs give the same digests


@dataclass(frozen=True)
class Blob:
    media_type: str
    data: bytes
    diff_id: str = ""
    """sha256 of the uncompressed tar, for layers."""

    @property
    def digest(self) -> str:
        return sha256_digest(self.data)

    def descriptor(self) -> dict[str, Any]:
        return {"mediaType": self.media_type, "digest": self.digest, "size": len(self.data)}


class LayerBuilder:
    """Build one layer tar in memory, entry by entry."""

    def __init__(self) -> None:
        self._buf = io.BytesIO()
        self._tar = tarfile.open(fileobj=self._buf, mode="w", format=tarfile.PAX_FORMAT)

    def _info(self, path: str, kind: bytes, mode: int) -> tarfile.TarInfo:
        ti = tarfile.TarInfo(path.lstrip("/"))
        ti.type, ti.mode, ti.mtime = kind, mode, _EPOCH
        return ti

    def dir(self, path: str, mode: int = 0o755) -> "LayerBuilder":
        self._tar.addfile(self._info(path, tarfile.DIRTYPE, mode))
        return self

    def file(self, path: str, data: bytes | str, mode: int = 0o644) -> "LayerBuilder":
        raw = data.encode() if isinstance(data, str) else data
        ti = self._info(path, tarfile.REGTYPE, mode)
        ti.size = len(raw)
        self._tar.addfile(ti, io.BytesIO(raw))
        return self

    def symlink(self, path: str, target: str) -> "LayerBuilder":
        ti = self._info(path, tarfile.SYMTYPE, 0o777)
        ti.linkname = target
        self._tar.addfile(ti)
        return self

    def whiteout(self, path: str) -> "LayerBuilder":
        """Delete `path` from the layers below (OCI `.wh.` marker)."""
        head, _, base = path.strip("/").rpartition("/")
        return self.file(f"{head}/.wh.{base}" if head else f".wh.{base}", b"")

    def opaque(self, path: str) -> "LayerBuilder":
        """Hide everything below `path` from lower layers (OCI `.wh..wh..opq`)."""
        return self.file(f"{path.strip('/')}/.wh..wh..opq", b"")

    def finish(self, compression: str = "gzip") -> Blob:
        self._tar.close()
        tar = self._buf.getvalue()
        diff_id = "sha256:" + hashlib.sha256(tar).hexdigest()
        if compression == "gzip":
            data = gzip.compress(tar, mtime=0)
        elif compression == "zstd":
            data = subprocess.run(["zstd", "-q", "-c"], input=tar, stdout=subprocess.PIPE, check=True).stdout
        else:
            data = tar
        return Blob(LAYER_TYPES[compression], data, diff_id)


@dataclass
class OciImage:
    layers: list[Blob]
    config: Blob
    manifest: Blob
    blobs: dict[str, Blob] = field(default_factory=dict)


def build_image(layers: list[Blob], config: dict[str, Any], *, docker: bool = False) -> OciImage:
    """Assemble config and manifest (linux/amd64) around `layers`, base layer first.
    `docker=True` writes Docker's schema2 media types instead of OCI's (gzip layers only)."""
    doc = {
        "architecture": "amd64", "os": "linux", "created": "2023-11-14T22:13:20Z",
        "config": config,
        "rootfs": {"type": "layers", "diff_ids": [layer.diff_id for layer in layers]},
    }
    if docker:
        layers = [Blob(DOCKER_LAYER, layer.data, layer.diff_id) for layer in layers]
    cfg = Blob(DOCKER_CONFIG if docker else CONFIG_TYPE, json.dumps(doc, sort_keys=True).encode())
    media = DOCKER_MANIFEST if docker else OCI_MANIFEST
    manifest = {"schemaVersion": 2, "mediaType": media, "config": cfg.descriptor(),
                "layers": [layer.descriptor() for layer in layers]}
    man = Blob(media, json.dumps(manifest, sort_keys=True).encode())
    return OciImage(layers, cfg, man, {b.digest: b for b in [*layers, cfg, man]})


def busybox_layer(busybox: str = BUSYBOX, compression: str = "gzip") -> Blob:
    """A root filesystem: /bin/busybox, a symlink per applet, /etc/passwd, /tmp."""
    with open(busybox, "rb") as f:
        binary = f.read()
    applets = subprocess.run([busybox, "--list"], stdout=subprocess.PIPE, text=True, check=True).stdout.split()
    lb = LayerBuilder()
    for d in ("bin", "etc", "root", "var", "www"):
        lb.dir(d)
    lb.dir("tmp", 0o1777)
    lb.file("bin/busybox", binary, 0o755)
    for applet in sorted(set(applets) - {"busybox", "wget"}):
        lb.symlink(f"bin/{applet}", "busybox")
    lb.file("bin/wget", WGET, 0o755)
    lb.file("etc/passwd", "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n")
    lb.file("etc/group", "root:x:0:\nnogroup:x:65534:\n")
    return lb.finish(compression)


def busybox_image(compression: str = "gzip") -> OciImage:
    return build_image([busybox_layer(compression=compression)],
                       {"Env": ["PATH=/bin"], "Cmd": ["sh"], "WorkingDir": "/"})


def demo_image() -> OciImage:
    """`pyctl/demo:1.0`: busybox httpd serving /www on port 8080, stopped by SIGTERM."""
    www = (LayerBuilder().dir("www").file("www/index.html", "<h1>pyctl demo</h1>\n")
           .dir("bin").file("bin/serve", SERVE, 0o755).finish())
    return build_image([busybox_layer(), www], {
        "Env": ["PATH=/bin"], "Cmd": ["serve", "8080"],
        "WorkingDir": "/www", "ExposedPorts": {"8080/tcp": {}},
    })


async def push_image(client: RegistryClient, ref: str, image: OciImage) -> str:
    """Push blobs then the manifest (OCI push: POST+PUT uploads, PUT manifest); returns its digest."""
    r = parse_reference(ref)
    for blob in [*image.layers, image.config]:
        await client.push_blob(r, blob.digest, blob.data)
    return await client.push_manifest(r, r.tag or "latest", image.manifest.data, image.manifest.media_type)


async def seed_registry(registry: str, *, auth_file: str = "/nonexistent") -> str:
    """Push the demo image to `registry` (e.g. `127.0.0.1:5000`); for `pyctl cluster up`."""
    client = RegistryClient(auth_file=auth_file)
    try:
        return await push_image(client, f"{registry}/pyctl/demo:1.0", demo_image())
    finally:
        await client.close()


def write_oci_archive(path: str, images: dict[str, OciImage]) -> None:
    """Write an OCI image-layout tar holding `images`, keyed by full reference."""
    index = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [
        {**img.manifest.descriptor(), "annotations": {"org.opencontainers.image.ref.name": ref}}
        for ref, img in images.items()]}
    lb = LayerBuilder()
    lb.file("oci-layout", json.dumps({"imageLayoutVersion": "1.0.0"}))
    lb.file("index.json", json.dumps(index))
    lb.dir("blobs").dir("blobs/sha256")
    seen: set[str] = set()
    for img in images.values():
        for digest, blob in img.blobs.items():
            if digest not in seen:
                seen.add(digest)
                lb.file(f"blobs/sha256/{digest.removeprefix('sha256:')}", blob.data)
    tar = lb.finish("none").data
    with open(path + ".tmp", "wb") as f:
        f.write(tar)
    os.replace(path + ".tmp", path)
