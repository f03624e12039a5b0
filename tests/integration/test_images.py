"""Images for the node agent, against a real docker-registry on loopback.

Covers reference parsing, push/pull of built images, overlay-ready unpacking (whiteouts,
opaque dirs), digest verification, pull policies, single-flight pulls, registry and
connection errors, basic auth from the node auth file, and OCI archive import.
"""

from __future__ import annotations

import asyncio
import base64
import io
import json
import os
import signal
import stat
import subprocess
import tarfile
import urllib.request
from pathlib import Path

import pytest

from agent.images import ImageError, ImageStore, RegistryClient, parse_reference
from agent.images.build import (LayerBuilder, OciImage, build_image, busybox_image, busybox_layer,
                                demo_image, push_image, write_oci_archive)
from agent.images.reference import InvalidReference
from agent.images.registry import DOCKER_LIST, OCI_INDEX, sha256_digest
from agent.images.unpack import UnpackError, unpack_layer
from agent.runtime import overlay

from ..cluster import free_port
from ..images import Registry, TokenServer

ROOT = os.geteuid() == 0
needs_root = pytest.mark.skipif(not ROOT, reason="whiteouts (mknod), trusted xattrs and mounts need root")


@pytest.fixture
def registry():
    r = Registry().start()
    yield r
    r.stop()


@pytest.fixture
def auth_registry():
    r = Registry(users={"pyctl": "s3cret"}).start()
    yield r
    r.stop()


@pytest.fixture
async def token_registry(tmp_path):
    tokens = await TokenServer(str(tmp_path)).start()
    r = Registry(token=tokens).start()
    yield r
    r.stop()
    await tokens.stop()


@pytest.fixture
async def store(tmp_path):
    s = ImageStore(str(tmp_path / "images"), RegistryClient(auth_file=str(tmp_path / "auth.json")))
    yield s
    await s.close()


async def push(ref: str, image: OciImage, auth_file: str = "/nonexistent") -> str:
    client = RegistryClient(auth_file=auth_file)
    try:
        return await push_image(client, ref, image)
    finally:
        await client.close()


def layered_image() -> OciImage:
    """Base: busybox + /etc/motd + /opt/dir/{a,keep}; top: deletes motd, makes /opt/dir opaque."""
    base = busybox_layer()
    extra = (LayerBuilder().dir("etc").file("etc/motd", "hello\n").dir("opt").dir("opt/dir")
             .file("opt/dir/a", "a").file("opt/dir/keep", "k").file("opt/other", "o").finish())
    top = (LayerBuilder().dir("etc").whiteout("etc/motd").dir("opt").dir("opt/dir")
           .opaque("opt/dir").file("opt/dir/b", "b\n").finish("zstd"))
    return build_image([base, extra, top], {"Env": ["PATH=/bin", "A=1"], "Entrypoint": ["/bin/sh"],
                                            "Cmd": ["-c", "true"], "WorkingDir": "/opt",
                                            "User": "65534", "ExposedPorts": {"80/tcp": {}}})


# --- references (unit) ------------------------------------------------------------------

@pytest.mark.parametrize("text,expect", [
    ("busybox", "docker.io/library/busybox:latest"),
    ("node:20-alpine", "docker.io/library/node:20-alpine"),
    ("user/repo", "docker.io/user/repo:latest"),
    ("index.docker.io/library/redis:7", "docker.io/library/redis:7"),
    ("ghcr.io/o/r:t", "ghcr.io/o/r:t"),
    ("localhost:5000/pyctl/demo:1.0", "localhost:5000/pyctl/demo:1.0"),
    ("localhost/app", "localhost/app:latest"),
    ("127.0.0.1:5000/x@sha256:" + "a" * 64, "127.0.0.1:5000/x@sha256:" + "a" * 64),
    ("busybox:1.36@sha256:" + "b" * 64, "docker.io/library/busybox:1.36@sha256:" + "b" * 64),
])
def test_reference_normalization(text, expect):
    assert str(parse_reference(text)) == expect


def test_reference_parts_and_transport():
    r = parse_reference("localhost:5000/pyctl/demo:1.0")
    assert (r.registry, r.repository, r.tag, r.ref) == ("localhost:5000", "pyctl/demo", "1.0", "1.0")
    assert r.scheme == "http"
    assert parse_reference("127.0.0.1:5000/a").scheme == "http"
    assert parse_reference("ghcr.io/o/r").scheme == "https"
    hub = parse_reference("busybox")
    assert (hub.host, hub.scheme) == ("registry-1.docker.io", "https")
    pinned = parse_reference("busybox:1@sha256:" + "c" * 64)
    assert pinned.ref == "sha256:" + "c" * 64


@pytest.mark.parametrize("bad", ["", "UPPER/case", "busybox:", "a@sha256:short", "bad//path", "-x"])
def test_invalid_references(bad):
    with pytest.raises(InvalidReference):
        parse_reference(bad)


# --- pull and unpack --------------------------------------------------------------------

@needs_root
async def test_push_then_pull_unpacks_layers_for_overlay(registry, store):
    image = layered_image()
    ref = f"{registry.host}/test/layered:1"
    manifest_digest = await push(ref, image)

    img = await store.ensure(ref, "IfNotPresent")
    assert img.id == image.config.digest
    assert img.digest == manifest_digest
    assert img.reference == ref
    assert img.config.entrypoint == ["/bin/sh"] and img.config.cmd == ["-c", "true"]
    assert img.config.env == ["PATH=/bin", "A=1"]
    assert (img.config.working_dir, img.config.user, img.config.exposed_ports) == ("/opt", "65534", ["80/tcp"])
    # top-most first, each dir named by the layer's diffID
    assert [os.path.basename(d) for d in img.lowerdirs] == \
        [layer.diff_id.removeprefix("sha256:") for layer in reversed(image.layers)]
    top, extra, base = img.lowerdirs
    assert os.path.islink(f"{base}/bin/sh") and os.readlink(f"{base}/bin/sh") == "busybox"
    assert os.stat(f"{base}/bin/busybox").st_mode & 0o777 == 0o755
    assert stat.S_IMODE(os.stat(f"{base}/tmp").st_mode) == 0o1777
    with open(f"{extra}/etc/motd") as f:
        assert f.read() == "hello\n"
    wh = os.lstat(f"{top}/etc/motd")  # whiteout → 0/0 char device, marker file gone
    assert stat.S_ISCHR(wh.st_mode) and os.major(wh.st_rdev) == 0 and os.minor(wh.st_rdev) == 0
    assert not os.path.exists(f"{top}/etc/.wh.motd")
    assert os.getxattr(f"{top}/opt/dir", "trusted.overlay.opaque") == b"y"
    assert sorted(os.listdir(f"{top}/opt/dir")) == ["b"]


@needs_root
async def test_overlay_mount_of_pulled_image(registry, store, tmp_path):
    ref = f"{registry.host}/test/layered:1"
    await push(ref, layered_image())
    img = await store.ensure(ref)
    merged, upper = overlay.mount_rootfs(img.lowerdirs, tmp_path), tmp_path / "upper"  # as the runtime does
    try:
        assert not os.path.exists(merged / "etc/motd")          # whited out by the top layer
        assert sorted(os.listdir(merged / "opt/dir")) == ["b"]  # opaque: a and keep hidden
        assert (merged / "opt/other").read_text() == "o"        # not opaque one level up
        out = subprocess.run(["chroot", str(merged), "/bin/sh", "-c", "cat /opt/dir/b; echo x > /tmp/y"],
                             stdout=subprocess.PIPE, text=True, check=True).stdout
        assert out == "b\n"
        assert (upper / "tmp/y").read_text() == "x\n"           # writes land in the container's upper
    finally:
        overlay.unmount_rootfs(tmp_path, remove=False)
    # the shared layer dirs are untouched by the container's writes
    assert not os.path.exists(os.path.join(img.lowerdirs[-1], "tmp/y"))


@needs_root
async def test_demo_image_serves_http_wget_takes_a_timeout_and_pid_1_stops_on_term(registry, store, tmp_path):
    """pyctl/demo:1.0 as `cluster up` seeds it: its own Cmd as PID 1 of a new pid namespace,
    chrooted into the overlay, on loopback. Its wget takes -T (Debian's busybox-static wget
    dies of SIGSEGV on it), and TERM to PID 1 ends it (httpd as PID 1 would ignore it)."""
    ref = f"{registry.host}/pyctl/demo:1.0"
    await push(ref, demo_image())
    img = await store.ensure(ref)
    merged = overlay.mount_rootfs(img.lowerdirs, tmp_path)  # as the runtime does
    port = free_port()
    cmd = [a.replace("8080", f"127.0.0.1:{port}") for a in img.config.cmd]  # host netns: loopback only
    (merged / "dev").mkdir(exist_ok=True)  # as a container's: a shell's background jobs read /dev/null
    os.mknod(merged / "dev" / "null", stat.S_IFCHR | 0o666, os.makedev(1, 3))
    proc = subprocess.Popen(["unshare", "--pid", "--fork", "chroot", str(merged), *cmd],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        body = b""
        for _ in range(100):
            try:
                body = await asyncio.to_thread(
                    lambda: urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=1).read())
                break
            except OSError:
                await asyncio.sleep(0.05)
        assert body == b"<h1>pyctl demo</h1>\n"
        got = subprocess.run(["chroot", str(merged), "wget", "-T", "5", "-q", "-O", "-",
                              f"http://127.0.0.1:{port}/"], capture_output=True, timeout=30)
        assert (got.returncode, got.stdout) == (0, b"<h1>pyctl demo</h1>\n")
        pid_1 = int(Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()[0])
        os.kill(pid_1, signal.SIGTERM)
        assert proc.wait(timeout=10) == 0  # well within any grace period; without a handler: never
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        overlay.unmount_rootfs(tmp_path, remove=False)


@needs_root
async def test_pull_uncompressed_and_zstd_layers(registry, store):
    plain = build_image([busybox_layer(compression="none")], {"Cmd": ["sh"]})
    zst = build_image([busybox_layer(compression="zstd")], {"Cmd": ["sh"]})
    await push(f"{registry.host}/test/plain:1", plain)
    await push(f"{registry.host}/test/zst:1", zst)
    a = await store.ensure(f"{registry.host}/test/plain:1")
    b = await store.ensure(f"{registry.host}/test/zst:1")
    # same uncompressed content → same diffID → one shared unpacked layer
    assert a.lowerdirs == b.lowerdirs
    assert os.path.isfile(os.path.join(a.lowerdirs[0], "bin/busybox"))


async def test_corrupted_blob_is_refused(registry, store):
    image = busybox_image()
    ref = f"{registry.host}/test/corrupt:1"
    await push(ref, image)
    path = registry.blob_data_path(image.layers[0].digest)
    with open(path, "r+b") as f:  # same size, different bytes
        f.seek(1000)
        f.write(b"\x00" * 64)
    with pytest.raises(ImageError) as e:
        await store.ensure(ref)
    assert e.value.reason == "ErrImagePull"
    assert "digest mismatch" in e.value.message
    assert store.get(ref) is None
    assert not os.listdir(os.path.join(store.root, "layers"))


async def test_multi_arch_index_picks_linux_amd64(registry, store):
    amd = busybox_image()
    arm = build_image([LayerBuilder().file("arm", "not this").finish()], {"Cmd": ["no"]})
    repo = f"{registry.host}/test/multi"
    client = RegistryClient(auth_file="/nonexistent")
    try:
        for img in (amd, arm):
            await push_image(client, f"{repo}:{img.manifest.digest[7:19]}", img)
        index = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [
            {**arm.manifest.descriptor(), "platform": {"os": "linux", "architecture": "arm64"}},
            {**amd.manifest.descriptor(), "platform": {"os": "linux", "architecture": "amd64"}}]}
        raw = json.dumps(index).encode()
        await client.push_manifest(parse_reference(f"{repo}:1"), "1", raw, OCI_INDEX)
    finally:
        await client.close()
    img = await store.ensure(f"{repo}:1")
    assert img.id == amd.config.digest and img.digest == amd.manifest.digest
    # pinned by the index digest works too
    pinned = await store.ensure(f"{repo}@{sha256_digest(raw)}")
    assert pinned.id == amd.config.digest


async def test_docker_schema2_manifest_list(registry, store):
    """Docker's media types (what Docker Hub serves for most images) pull like OCI's."""
    amd = build_image([busybox_layer()], {"Cmd": ["sh"]}, docker=True)
    arm = build_image([LayerBuilder().file("arm", "no").finish()], {"Cmd": ["no"]}, docker=True)
    repo = f"{registry.host}/test/dockerlist"
    client = RegistryClient(auth_file="/nonexistent")
    try:
        for img in (arm, amd):
            await push_image(client, f"{repo}:{img.manifest.digest[7:19]}", img)
        index = {"schemaVersion": 2, "mediaType": DOCKER_LIST, "manifests": [
            {**arm.manifest.descriptor(), "platform": {"os": "linux", "architecture": "arm64", "variant": "v8"}},
            {**amd.manifest.descriptor(), "platform": {"os": "linux", "architecture": "amd64"}}]}
        await client.push_manifest(parse_reference(f"{repo}:1"), "1", json.dumps(index).encode(), DOCKER_LIST)
    finally:
        await client.close()
    img = await store.ensure(f"{repo}:1")
    assert (img.id, img.digest) == (amd.config.digest, amd.manifest.digest)
    assert os.path.isfile(os.path.join(img.lowerdirs[0], "bin/busybox"))


# --- pull policies and single flight ---------------------------------------------------

async def test_if_not_present_does_not_hit_registry_twice(registry, store):
    ref = f"{registry.host}/pyctl/demo:1.0"
    await push(ref, demo_image())
    first = await store.ensure(ref, "IfNotPresent")
    sent = sum(store.client.requests.values())
    assert sent == 4  # manifest, config, 2 layers
    assert len(registry.wait_log("GET ", sent)) == sent  # the registry agrees (a push sends no GET)
    again = await store.ensure(ref, "IfNotPresent")
    assert again == first
    assert sum(store.client.requests.values()) == sent
    await asyncio.sleep(0.2)
    assert len(registry.wait_log("GET ", 0)) == sent
    assert first.config.cmd[:1] == ["serve"] and first.config.exposed_ports == ["8080/tcp"]


async def test_always_rechecks_manifest_but_reuses_layers(registry, store):
    ref = f"{registry.host}/test/always:1"
    await push(ref, busybox_image())
    await store.ensure(ref, "Always")
    manifests, blobs = store.client.requests["GET manifests"], store.client.requests["GET blobs"]
    await store.ensure(ref, "Always")
    assert store.client.requests["GET manifests"] == manifests + 1
    assert store.client.requests["GET blobs"] == blobs  # config and layers are already here


async def test_never_without_image_fails_like_kubelet(registry, store):
    ref = f"{registry.host}/test/never:1"
    with pytest.raises(ImageError) as e:
        await store.ensure(ref, "Never")
    assert e.value.reason == "ErrImageNeverPull"
    assert e.value.message == f'Container image "{ref}" is not present with pull policy of Never'
    assert sum(store.client.requests.values()) == 0
    await push(ref, busybox_image())
    await store.ensure(ref, "IfNotPresent")
    assert (await store.ensure(ref, "Never")).reference == ref


async def test_concurrent_ensure_pulls_once(registry, store):
    ref = f"{registry.host}/pyctl/demo:1.0"
    image = demo_image()
    await push(ref, image)
    results = await asyncio.gather(*(store.ensure(ref, "Always") for _ in range(8)))
    assert all(r == results[0] for r in results)
    assert store.client.requests["GET manifests"] == 1
    assert store.client.requests["GET blobs"] == len(image.layers) + 1
    assert sorted(registry.wait_log("GET ", 2 + len(image.layers))) == sorted(
        ["GET /v2/pyctl/demo/manifests/1.0",
         *(f"GET /v2/pyctl/demo/blobs/{b.digest}" for b in [image.config, *image.layers])])


async def test_images_sharing_a_layer_pulled_together(registry, store):
    demo, box = demo_image(), busybox_image()
    assert demo.layers[0].diff_id == box.layers[0].diff_id
    await push(f"{registry.host}/pyctl/demo:1.0", demo)
    await push(f"{registry.host}/test/box:1", box)
    a, b = await asyncio.gather(store.ensure(f"{registry.host}/pyctl/demo:1.0"),
                                store.ensure(f"{registry.host}/test/box:1"))
    assert a.lowerdirs[-1] == b.lowerdirs[-1]
    assert len(os.listdir(os.path.join(store.root, "layers"))) == 2  # no leftover temp dirs


async def test_invalid_name_is_reported(store):
    with pytest.raises(ImageError) as e:
        await store.ensure("Not/Valid:", "IfNotPresent")
    assert e.value.reason == "InvalidImageName"


# --- errors ----------------------------------------------------------------------------

async def test_missing_image_reports_manifest_unknown(registry, store):
    with pytest.raises(ImageError) as e:
        await store.ensure(f"{registry.host}/test/nothing:1")
    assert e.value.reason == "ErrImagePull"
    assert "manifest unknown" in e.value.message
    assert not e.value.temporary


async def test_unreachable_registry_is_a_temporary_dial_error(store):
    port = free_port()  # bound then closed: nothing listens
    with pytest.raises(ImageError) as e:
        await store.ensure(f"127.0.0.1:{port}/test/x:1")
    assert f"dial tcp 127.0.0.1:{port}: connect: connection refused" in e.value.message
    assert e.value.temporary


async def test_basic_auth_from_node_auth_file(auth_registry, store, tmp_path):
    auth_file = tmp_path / "push-auth.json"
    auth_file.write_text(json.dumps({"auths": {auth_registry.host: {"username": "pyctl", "password": "s3cret"}}}))
    ref = f"{auth_registry.host}/private/app:1"
    await push(ref, busybox_image(), str(auth_file))

    with pytest.raises(ImageError) as e:  # no credentials at all
        await store.ensure(ref)
    assert "unauthorized: authentication required" in e.value.message

    token = base64.b64encode(b"pyctl:wrong").decode()
    with open(store.client.auth_file, "w") as f:
        json.dump({"auths": {f"http://{auth_registry.host}": {"auth": token}}}, f)
    with pytest.raises(ImageError) as e:
        await store.ensure(ref)
    assert "unauthorized" in e.value.message and not e.value.temporary

    token = base64.b64encode(b"pyctl:s3cret").decode()
    with open(store.client.auth_file, "w") as f:
        json.dump({"auths": {auth_registry.host: {"auth": token}}}, f)
    img = await store.ensure(ref)
    assert img.config.cmd == ["sh"]


async def test_anonymous_bearer_token_from_www_authenticate(token_registry, store):
    ref = f"{token_registry.host}/public/app:1"
    await push(ref, busybox_image())
    assert token_registry.token is not None
    tokens = token_registry.token.requests
    assert tokens[0]["query"] == {"service": "pyctl-test", "scope": "repository:public/app:pull,push"}
    tokens.clear()
    img = await store.ensure(ref)
    assert img.config.cmd == ["sh"]
    # one anonymous token for the whole pull, asked with the registry's service and a pull scope
    assert tokens == [{"query": {"service": "pyctl-test", "scope": "repository:public/app:pull"},
                       "authorization": ""}]
    assert store.client.requests["GET token"] == 1

    # with node credentials for that registry, the token request carries them as Basic auth
    with open(store.client.auth_file, "w") as f:
        json.dump({"auths": {token_registry.host: {"username": "node", "password": "pw"}}}, f)
    client = RegistryClient(auth_file=store.client.auth_file)
    try:
        await client.resolve(parse_reference(ref))
    finally:
        await client.close()
    assert tokens[-1]["authorization"] == "Basic " + base64.b64encode(b"node:pw").decode()


# --- air-gapped import -----------------------------------------------------------------

async def test_import_oci_archive(store, tmp_path):
    archive = str(tmp_path / "demo.tar")
    demo = demo_image()
    write_oci_archive(archive, {"localhost:5000/pyctl/demo:1.0": demo, "busybox:latest": busybox_image()})
    images = await store.import_archive(archive)
    assert sorted(i.reference for i in images) == ["docker.io/library/busybox:latest",
                                                    "localhost:5000/pyctl/demo:1.0"]
    # present now: Never needs no registry at all
    img = await store.ensure("localhost:5000/pyctl/demo:1.0", "Never")
    assert img.id == demo.config.digest and img.digest == demo.manifest.digest
    assert os.path.isfile(os.path.join(img.lowerdirs[0], "www/index.html"))
    assert sum(store.client.requests.values()) == 0


async def test_import_refuses_corrupt_or_hostile_archives(store, tmp_path):
    good = str(tmp_path / "good.tar")
    box = busybox_image()
    write_oci_archive(good, {"localhost:5000/box:1": box})
    # a flipped byte in the config blob
    bad = str(tmp_path / "bad.tar")
    with tarfile.open(good) as src, tarfile.open(bad, "w") as dst:
        for m in src.getmembers():
            data = src.extractfile(m).read() if m.isfile() else b""  # type: ignore[union-attr]
            if m.name.endswith(box.config.digest[7:]):
                data = data.replace(b"amd64", b"AMD64")
            dst.addfile(m, io.BytesIO(data))
    with pytest.raises(ImageError, match="corrupt") as e:
        await store.import_archive(bad)
    assert e.value.reason == "ErrImageImport"
    # an index entry whose digest would walk out of the layout
    evil = str(tmp_path / "evil.tar")
    index = {"schemaVersion": 2, "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json",
             "digest": "sha256:../../../../etc/passwd", "size": 1,
             "annotations": {"org.opencontainers.image.ref.name": "x:1"}}]}
    write_oci_archive(evil, {})
    with tarfile.open(evil, "a") as tf:
        raw = json.dumps(index).encode()
        ti = tarfile.TarInfo("index.json")
        ti.size = len(raw)
        tf.addfile(ti, io.BytesIO(raw))
    with pytest.raises(ImageError, match="malformed digest"):
        await store.import_archive(evil)
    assert store.images() == []


# --- safe extraction -------------------------------------------------------------------

def raw_layer(tmp_path, entries: list[tuple[str, bytes, str]]) -> str:
    """A plain tar with entries (name, type, linkname) written verbatim, hostile ones included."""
    path = str(tmp_path / "evil.tar")
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as tf:
        for name, kind, link in entries:
            ti = tarfile.TarInfo(name)
            ti.type, ti.linkname, ti.mode = kind, link, 0o644
            data = b"pwned" if kind == tarfile.REGTYPE else b""
            ti.size = len(data)
            tf.addfile(ti, io.BytesIO(data))
    return path


@pytest.mark.parametrize("entries", [
    [("../escape", b"0", "")],
    [("a/../../escape", b"0", "")],
    [("evil", b"2", "/tmp"), ("evil/pwn", b"0", "")],          # write through an absolute symlink
    [("evil", b"2", "../../.."), ("evil/pwn", b"0", "")],      # ... or a relative one
    [("link", b"1", "../../../etc/passwd")],                    # hard link out of the layer
    [("d", b"5", ""), ("d/.wh..", b"0", "")],                   # a whiteout naming its own dir
])
def test_hostile_layers_are_refused(tmp_path, entries):
    blob = raw_layer(tmp_path, entries)
    dest = tmp_path / "layers" / "x"
    dest.parent.mkdir()
    with pytest.raises(UnpackError):
        unpack_layer(blob, str(dest), None)
    assert not dest.exists()
    assert os.listdir(dest.parent) == []  # the temp dir is gone too
    assert not (tmp_path / "escape").exists() and not os.path.exists("/tmp/pwn")


def test_absolute_paths_stay_inside_the_layer(tmp_path):
    blob = raw_layer(tmp_path, [("/abs/file", b"0", ""), ("./rel", b"0", "")])
    dest = tmp_path / "layer"
    diff_id = unpack_layer(blob, str(dest), None)
    assert (dest / "abs/file").read_bytes() == b"pwned" and (dest / "rel").exists()
    with open(blob, "rb") as f:
        assert diff_id == sha256_digest(f.read())


def test_wrong_diff_id_is_refused(tmp_path):
    blob = raw_layer(tmp_path, [("f", b"0", "")])
    with pytest.raises(UnpackError, match="diffID mismatch"):
        unpack_layer(blob, str(tmp_path / "layer"), "sha256:" + "0" * 64)
    assert not (tmp_path / "layer").exists()
