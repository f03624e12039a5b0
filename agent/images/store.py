"""The node's image store: content-addressed blobs, unpacked layers, image records.

Layout under the state dir:
  blobs/sha256/<hex>        manifests, configs and layer tarballs, verified on arrival
  layers/<diffid-hex>/      one unpacked layer, extracted once and shared by all containers
  images.json               reference → {manifest, config} digests
`ensure(ref, policy)` is the one call the runtime makes; concurrent callers for the same
reference share one pull. Each caller reports what it got as pod events (in the pod worker's
event scope, see agent/events.py): Pulling / Pulled (with the pull's duration and the image
size) or "already present", Failed with the registry's message.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import tarfile
import tempfile
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from .. import metrics
from ..events import NORMAL, WARNING, emit_in_scope, go_duration
from .reference import InvalidReference, Reference, check_digest, parse_reference
from .registry import INDEX_TYPES, RegistryClient, RegistryError, sha256_digest
from .unpack import UnpackError, unpack_layer

ALWAYS, IF_NOT_PRESENT, NEVER = "Always", "IfNotPresent", "Never"


class ImageError(Exception):
    """Why an image is not available, as kubelet reports it in a container's waiting state."""

    def __init__(self, reason: str, message: str, *, temporary: bool = False) -> None:
        super().__init__(message)
        self.reason = reason
        """ErrImagePull | ErrImageNeverPull | InvalidImageName (from `ensure`); ErrImageImport."""
        self.message = message
        self.temporary = temporary


@dataclass(frozen=True)
class ImageConfig:
    """The parts of the OCI image config a container runtime needs."""
    entrypoint: list[str] = field(default_factory=list)
    cmd: list[str] = field(default_factory=list)
    env: list[str] = field(default_factory=list)
    working_dir: str = ""
    user: str = ""
    exposed_ports: list[str] = field(default_factory=list)

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> "ImageConfig":
        c = doc.get("config") or {}
        return cls(list(c.get("Entrypoint") or []), list(c.get("Cmd") or []), list(c.get("Env") or []),
                   c.get("WorkingDir") or "", c.get("User") or "", sorted(c.get("ExposedPorts") or {}))


@dataclass(frozen=True)
class Image:
    reference: str
    """The normalized reference it was asked for, e.g. `docker.io/library/busybox:latest`."""
    id: str
    """The image ID: the config digest (what containerStatuses[].imageID shows)."""
    digest: str
    """The manifest digest (`name@digest` pins it)."""
    lowerdirs: list[str]
    """Unpacked layer dirs, TOP-most first: `lowerdir=":".join(lowerdirs)` for overlayfs."""
    config: ImageConfig


class ImageStore:
    """One per node agent, rooted in its state dir (e.g. `<state-dir>/images`)."""

    def __init__(self, root: str | os.PathLike[str], client: RegistryClient | None = None) -> None:
        self.root = os.fspath(root)
        self.client = client or RegistryClient()
        self._inflight: dict[str, asyncio.Future[tuple[Image, float]]] = {}  # -> (image, pull seconds)
        self._records_lock = threading.Lock()
        self._layer_locks: dict[str, asyncio.Lock] = {}  # two images sharing a layer unpack it once
        for d in ("blobs/sha256", "layers"):
            os.makedirs(os.path.join(root, d), exist_ok=True)

    async def close(self) -> None:
        await self.client.close()

    # --- paths and records --------------------------------------------------------------

    def blob_path(self, digest: str) -> str:
        return os.path.join(self.root, "blobs", "sha256", check_digest(digest)[7:])

    def layer_path(self, diff_id: str) -> str:
        return os.path.join(self.root, "layers", check_digest(diff_id)[7:])

    def _records(self) -> dict[str, dict[str, str]]:
        try:
            with open(os.path.join(self.root, "images.json")) as f:
                records: dict[str, dict[str, str]] = json.load(f)
                return records
        except FileNotFoundError:
            return {}

    def _save_record(self, ref: str, manifest: str, config: str) -> None:
        with self._records_lock:  # archive imports write from a worker thread
            self._save_record_locked(ref, manifest, config)

    def _save_record_locked(self, ref: str, manifest: str, config: str) -> None:
        records = self._records()
        records[ref] = {"manifest": manifest, "config": config}
        path = os.path.join(self.root, "images.json")
        with open(path + ".tmp", "w") as f:
            json.dump(records, f, indent=1, sort_keys=True)
        os.replace(path + ".tmp", path)  # readers never see a half-written index

    def get(self, ref: str | Reference) -> Image | None:
        """The image if it is fully present locally (record, config and every layer)."""
        r = ref if isinstance(ref, Reference) else parse_reference(ref)
        rec = self._records().get(str(r))
        if rec is None:
            return None
        try:
            with open(self.blob_path(rec["config"]), "rb") as f:
                config = json.load(f)
        except FileNotFoundError:
            return None
        diff_ids = list((config.get("rootfs") or {}).get("diff_ids") or [])
        dirs = [self.layer_path(d) for d in diff_ids]
        if not all(os.path.isdir(d) for d in dirs):
            return None
        return Image(str(r), rec["config"], rec["manifest"], dirs[::-1], ImageConfig.from_json(config))

    def images(self) -> list[Image]:
        """Every fully present image, by reference."""
        return [img for ref in sorted(self._records()) if (img := self.get(ref)) is not None]

    # --- ensure / pull ------------------------------------------------------------------

    async def rootfs(self, ref: str, policy: str = "") -> tuple[list[str], dict[str, Any]]:
        """The runtime's `rootfs_for` hook: the layer dirs (top-most first) and the image config
        fields a container is built from, after `ensure` under the container's pull policy."""
        img = await self.ensure(ref, policy)
        c = img.config
        return list(img.lowerdirs), {"Entrypoint": c.entrypoint, "Cmd": c.cmd, "Env": c.env,
                                     "WorkingDir": c.working_dir, "User": c.user}

    async def ensure(self, ref: str, policy: str = IF_NOT_PRESENT) -> Image:
        """Return the image, pulling per imagePullPolicy; raises `ImageError`."""
        try:
            r = parse_reference(ref)
        except InvalidReference as e:
            err = ImageError("InvalidImageName", f'Failed to apply default image tag "{ref}": {e}')
            emit_in_scope(WARNING, "InspectFailed", err.message)
            raise err from e
        if policy not in (ALWAYS, IF_NOT_PRESENT, NEVER):
            policy = ALWAYS if r.tag == "latest" and not r.digest else IF_NOT_PRESENT
        if policy != ALWAYS:
            image = self.get(r)
            if image is not None:
                emit_in_scope(NORMAL, "Pulled", f'Container image "{ref}" already present on machine')
                return image
            if policy == NEVER:
                err = ImageError("ErrImageNeverPull", f'Container image "{ref}" is not present with '
                                 "pull policy of Never")
                emit_in_scope(WARNING, "ErrImageNeverPull", err.message)
                raise err
        key = str(r)
        began = time.monotonic()
        fut = self._inflight.get(key)
        if fut is None:
            fut = asyncio.ensure_future(self._timed_pull(r))
            self._inflight[key] = fut
            fut.add_done_callback(lambda f: (self._inflight.pop(key, None),
                                             f.cancelled() or f.exception()))  # mark retrieved
        emit_in_scope(NORMAL, "Pulling", f'Pulling image "{ref}"')
        try:
            # shield: one caller being cancelled must not abort the pull for the others
            pulled, took = await asyncio.shield(fut)
        except ImageError as e:
            emit_in_scope(WARNING, "Failed", f'Failed to pull image "{ref}": {e.message}')
            raise
        waited = time.monotonic() - began
        emit_in_scope(NORMAL, "Pulled", f'Successfully pulled image "{ref}" in {go_duration(took)} '
                      f"({go_duration(waited)} including waiting). Image size: {self.size(pulled)} bytes.")
        return pulled

    async def _timed_pull(self, r: Reference) -> tuple[Image, float]:
        began = time.monotonic()
        try:
            image = await self._pull(r)
        except Exception:
            metrics.pulled(None)
            raise
        metrics.pulled(time.monotonic() - began)
        return image, time.monotonic() - began

    def size(self, image: Image) -> int:
        """The image's size as registries count it: its config and (compressed) layers."""
        try:
            with open(self.blob_path(image.digest), "rb") as f:
                manifest = json.load(f)
        except (OSError, ValueError):
            return 0
        parts = [manifest.get("config") or {}, *(manifest.get("layers") or [])]
        return sum(int(p.get("size") or 0) for p in parts)

    async def _pull(self, r: Reference) -> Image:
        try:
            manifest = await self.client.resolve(r)
            self._write_blob(manifest.digest, manifest.raw)
            config_path = self.blob_path(manifest.config["digest"])
            if os.path.exists(config_path):  # verified when written; Always re-checks only the manifest
                with open(config_path, "rb") as f:
                    config_raw = f.read()
            else:
                config_raw = await self.client.fetch_bytes(r, manifest.config["digest"])
                self._write_blob(manifest.config["digest"], config_raw)
            config = json.loads(config_raw)
            diff_ids = list((config.get("rootfs") or {}).get("diff_ids") or [])
            if len(diff_ids) != len(manifest.layers):
                raise ImageError("ErrImagePull", f"image {r}: config has {len(diff_ids)} diff_ids "
                                 f"for {len(manifest.layers)} layers")
            for layer, diff_id in zip(manifest.layers, diff_ids):
                lock = self._layer_locks.setdefault(diff_id, asyncio.Lock())
                async with lock:
                    if os.path.isdir(self.layer_path(diff_id)):
                        continue  # shared with another image: already unpacked
                    blob = self.blob_path(layer["digest"])
                    if not os.path.exists(blob):
                        await self.client.fetch_blob(r, layer["digest"], blob)
                    await self._unpack(blob, diff_id)
            self._save_record(str(r), manifest.digest, manifest.config["digest"])
        except RegistryError as e:
            raise ImageError("ErrImagePull", f'failed to pull and unpack image "{r}": {e.message}',
                             temporary=e.temporary) from e
        except (UnpackError, OSError, ValueError, KeyError) as e:
            # a bad layer, a malformed manifest/config, or the node's disk: not the registry's words
            raise ImageError("ErrImagePull", f'failed to pull and unpack image "{r}": {e}') from e
        image = self.get(r)
        assert image is not None
        return image

    def _write_blob(self, digest: str, data: bytes) -> None:
        if sha256_digest(data) != digest:
            raise RegistryError(f"failed to verify blob: digest mismatch: wanted {digest}")
        path = self.blob_path(digest)
        if not os.path.exists(path):
            with open(path + ".tmp", "wb") as f:
                f.write(data)
            os.replace(path + ".tmp", path)

    async def _unpack(self, blob: str, diff_id: str) -> None:
        dest = self.layer_path(diff_id)
        if not os.path.isdir(dest):
            # Extraction is blocking file I/O; keep the agent's event loop responsive.
            await asyncio.to_thread(unpack_layer, blob, dest, diff_id)

    # --- air-gapped import --------------------------------------------------------------

    async def import_archive(self, path: str) -> list[Image]:
        """Load an OCI image-layout tar; each index entry whose `org.opencontainers.image.ref.name`
        (or containerd's `io.containerd.image.name`) holds a full reference is recorded."""
        try:
            return await asyncio.to_thread(self._import_sync, path)
        except RegistryError as e:
            raise ImageError("ErrImageImport", f"importing {path}: {e.message}") from e
        except (OSError, ValueError, KeyError, tarfile.TarError, UnpackError) as e:
            raise ImageError("ErrImageImport", f"importing {path}: {e}") from e

    def _import_sync(self, path: str) -> list[Image]:
        with tempfile.TemporaryDirectory(dir=self.root, prefix="import-") as tmp:
            with tarfile.open(path) as tf:
                tf.extractall(tmp, filter="data")  # stdlib's safe filter: no escaping paths
            with open(os.path.join(tmp, "index.json")) as f:
                index = json.load(f)
            images = []
            for entry in index.get("manifests", []):
                notes = entry.get("annotations") or {}
                # containerd's exports put the full name in their own annotation
                name = notes.get("io.containerd.image.name") or notes.get("org.opencontainers.image.ref.name")
                if not name:
                    continue
                images.append(self._import_manifest(tmp, entry, name))
            return images

    def _import_manifest(self, layout: str, entry: dict[str, Any], name: str) -> Image:
        def path(digest: str) -> str:
            return os.path.join(layout, "blobs", "sha256", check_digest(digest)[7:])

        def read(digest: str) -> bytes:
            with open(path(digest), "rb") as f:
                data = f.read()
            if sha256_digest(data) != digest:
                raise ValueError(f"archive blob {digest} is corrupt")
            return data

        raw = read(entry["digest"])
        doc = json.loads(raw)
        if entry.get("mediaType") in INDEX_TYPES or "manifests" in doc:
            entry = self.client.pick_platform(doc)
            raw = read(entry["digest"])
            doc = json.loads(raw)
        self._write_blob(entry["digest"], raw)
        config_raw = read(doc["config"]["digest"])
        self._write_blob(doc["config"]["digest"], config_raw)
        diff_ids = json.loads(config_raw)["rootfs"]["diff_ids"]
        for layer, diff_id in zip(doc["layers"], diff_ids):
            if not os.path.exists(self.blob_path(layer["digest"])):
                # layers can be large: hash in chunks, then move (same filesystem as the store)
                h = hashlib.sha256()
                with open(path(layer["digest"]), "rb") as f:
                    for chunk in iter(lambda: f.read(1 << 20), b""):
                        h.update(chunk)
                if "sha256:" + h.hexdigest() != layer["digest"]:
                    raise ValueError(f"archive blob {layer['digest']} is corrupt")
                os.replace(path(layer["digest"]), self.blob_path(layer["digest"]))
            if not os.path.isdir(self.layer_path(diff_id)):
                unpack_layer(self.blob_path(layer["digest"]), self.layer_path(diff_id), diff_id)
        ref = parse_reference(name)
        self._save_record(str(ref), entry["digest"], doc["config"]["digest"])
        image = self.get(ref)
        assert image is not None
        return image
