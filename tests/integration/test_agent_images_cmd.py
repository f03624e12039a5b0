"""`pyctl-agent images import|list` as an operator runs it on an air-gapped node (real process)."""

from __future__ import annotations

import subprocess
import sys

from agent.images import ImageStore
from agent.images.build import busybox_image, demo_image, write_oci_archive


def agent(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "agent", "images", *args], capture_output=True, text=True,
                          timeout=120)


async def test_import_then_list_and_the_agent_store_has_it(tmp_path):
    archive = tmp_path / "app.tar"
    demo = demo_image()
    write_oci_archive(str(archive), {"localhost:5000/pyctl/demo:1.0": demo, "busybox:latest": busybox_image()})
    state = tmp_path / "agent"
    done = agent("import", str(archive), "--state-dir", str(state))
    assert done.returncode == 0, done.stderr
    assert "imported localhost:5000/pyctl/demo:1.0" in done.stdout
    assert "imported docker.io/library/busybox:latest" in done.stdout

    listing = agent("list", "--state-dir", str(state))
    assert listing.returncode == 0, listing.stderr
    header, *rows = listing.stdout.splitlines()
    assert header.split() == ["IMAGE", "IMAGE", "ID", "SIZE"]
    assert [r.split()[0] for r in rows] == ["docker.io/library/busybox:latest", "localhost:5000/pyctl/demo:1.0"]
    assert demo.config.digest.removeprefix("sha256:")[:12] in rows[1]
    # What the agent itself would use with imagePullPolicy Never: no registry involved.
    store = ImageStore(str(state / "images"))
    try:
        img = await store.ensure("localhost:5000/pyctl/demo:1.0", "Never")
        assert img.id == demo.config.digest
    finally:
        await store.close()


def test_bad_archives_are_refused_with_a_reason_and_nothing_imported(tmp_path):
    state = tmp_path / "agent"
    missing = agent("import", str(tmp_path / "nope.tar"), "--state-dir", str(state))
    assert missing.returncode == 1 and "nope.tar: no such file" in missing.stderr
    junk = tmp_path / "junk.tar"
    junk.write_bytes(b"not a tar at all")
    bad = agent("import", str(junk), "--state-dir", str(state))
    assert bad.returncode == 1 and "importing" in bad.stderr and "Traceback" not in bad.stderr
    unnamed = tmp_path / "unnamed.tar"
    write_oci_archive(str(unnamed), {})
    none = agent("import", str(unnamed), "--state-dir", str(state))
    assert none.returncode == 1 and "names no image" in none.stderr
    assert agent("list", "--state-dir", str(state)).stdout.splitlines()[1:] == []
