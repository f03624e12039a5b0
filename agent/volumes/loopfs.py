"""A volume's size limit: an ext4 filesystem in an image file, loop-mounted on its directory.

Chosen over XFS project quotas because it works on whatever filesystem holds --volume-dir
(ext4 without the `project` feature here, as on most hosts) and needs only util-linux and
e2fsprogs. The image is fallocated in full, so the space is the volume's from the start (a
host filesystem that fills up never turns into I/O errors inside a volume); mkfs neither
discards nor zeroes (`nodiscard`, lazy init), so making one costs tens of milliseconds
(bench/volumes.py). The image is a little larger than asked, so the asked size is usable:
ext4's journal and inode tables take 4-15% of a small filesystem. Blocks are not reserved
for root (`-m 0`): a container running as anyone gets the whole volume.

Mounted, the loop device is set to free itself (autoclear): unmounting releases it.
"""

from __future__ import annotations

import math
import os
import subprocess
from pathlib import Path

OVERHEAD_FIXED = 8 * 2**20
OVERHEAD_SHARE = 0.96  # inode tables and bitmaps: ~3% of a filesystem made `-T default`
MIN_IMAGE = 16 * 2**20
MiB = 2**20


class LoopError(Exception):
    """A command failed: its stderr (the reason a user can act on)."""


def _run(*argv: str, timeout: float = 120) -> str:
    res = subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout)
    if res.returncode != 0:
        raise LoopError(f"{' '.join(argv[:2])}: {(res.stderr or res.stdout).strip() or f'exit {res.returncode}'}")
    return res.stdout


def available() -> str:
    """"" when loop-mounted images can be used here, else why not."""
    if os.geteuid() != 0:
        return "not running as root"
    if not Path("/dev/loop-control").exists():
        return "no /dev/loop-control (loop devices)"
    for tool in ("mkfs.ext4", "mount", "umount", "losetup", "fallocate"):
        if not any(Path(d, tool).exists() for d in ("/usr/sbin", "/sbin", "/usr/bin", "/bin")):
            return f"{tool} is not installed"
    return ""


def journal_mib(requested: int) -> int:
    """The journal: 4 MiB for small volumes, 1/64 of the volume up to 64 MiB (mke2fs's own
    choice grows in steps that a small volume would feel)."""
    return min(64, max(4, requested // (64 * MiB)))


def image_size(requested: int) -> int:
    """Bytes of the image that gives at least `requested` bytes of usable filesystem (measured:
    64Mi asked -> 73 MiB image; 1Gi -> 1091 MiB; 10Gi -> 10.4 GiB)."""
    size = math.ceil(requested / OVERHEAD_SHARE) + journal_mib(requested) * MiB + OVERHEAD_FIXED
    return max(MIN_IMAGE, size + 4095) // 4096 * 4096


def make_image(image: Path, requested: int) -> None:
    """A new formatted image (made under a temporary name and renamed, so an image with the
    final name is always a whole filesystem; an existing one is never formatted again)."""
    if image.exists():
        return
    tmp = image.with_name(image.name + ".new")
    tmp.unlink(missing_ok=True)
    try:
        _run("fallocate", "-l", str(image_size(requested)), str(tmp))
        # -T default: 4k blocks and inode ratio whatever the size (mke2fs's "small" type takes 8%).
        _run("mkfs.ext4", "-q", "-F", "-T", "default", "-m", "0", "-J", f"size={journal_mib(requested)}",
             "-E", "lazy_itable_init=1,lazy_journal_init=1,nodiscard", "-L", image.stem[:16], str(tmp))
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        tmp.rename(image)
    finally:
        tmp.unlink(missing_ok=True)


def mounted(target: Path) -> bool:
    return os.path.ismount(target)


def mount(image: Path, target: Path) -> None:
    """Attach the image to a loop device with direct I/O (no second page cache above the host's:
    measured 2-3x faster fsyncs, bench/volumes.py) and mount it; the device is then marked to
    free itself when the last mount goes (`losetup -d` on a busy device sets autoclear)."""
    for device in devices(image):
        if device in mounted_devices():  # two mounts of one ext4 would corrupt it
            raise LoopError(f"{image} is already mounted through {device}; not mounting it twice")
    detach(image)  # one left attached by a crash between attach and mount
    try:
        device = _run("losetup", "--find", "--show", "--direct-io=on", str(image)).strip()
    except LoopError:  # a backing filesystem without O_DIRECT
        device = _run("losetup", "--find", "--show", str(image)).strip()
    try:
        _run("mount", "-o", "nodev,nosuid", device, str(target))
    finally:
        subprocess.run(["losetup", "-d", device], capture_output=True, timeout=30)


def unmount(target: Path) -> None:
    """Unmount (not lazily: a busy volume stays, and says so)."""
    if mounted(target):
        _run("umount", str(target))


def devices(image: Path) -> list[str]:
    """The loop devices backed by `image`."""
    out = _run("losetup", "-j", str(image))
    return [d for d in (line.partition(":")[0].strip() for line in out.splitlines()) if d]


def mounted_devices() -> set[str]:
    """Block devices mounted anywhere on the node (the source field of mountinfo)."""
    with open("/proc/self/mountinfo") as f:
        return {line.split(" - ", 1)[1].split()[1] for line in f if " - " in line}


def detach(image: Path) -> None:
    """Free any loop device still backed by `image` (a crash between losetup and mount); one
    that is mounted is only marked to free itself when unmounted."""
    for device in devices(image):
        subprocess.run(["losetup", "-d", device], capture_output=True, timeout=30)
