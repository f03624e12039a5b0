"""`pyctl-agent images ...`: the node's image store from the command line (air-gapped nodes).

`import ARCHIVE` loads an OCI image-layout tar (as `skopeo copy ... oci-archive:` or
`ctr images export` write it) into the same store the agent pulls into, so pods with
`imagePullPolicy: IfNotPresent` or `Never` start without a registry. `list` shows what is
there. Run it with the agent's --state-dir; the agent need not be stopped.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys

EXAMPLES = """\
examples:
  # on a connected machine:  skopeo copy docker://nginx:1.27 oci-archive:nginx.tar:docker.io/library/nginx:1.27
  pyctl-agent images import nginx.tar
  pyctl-agent images list --state-dir /var/lib/pyctl-agent
"""


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="pyctl-agent images", epilog=EXAMPLES,
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                description="Manage the images of this node's agent.")
    p.add_argument("--state-dir", default="/var/lib/pyctl-agent",
                   help="the agent's state dir (default %(default)s)")
    sub = p.add_subparsers(dest="verb", required=True, metavar="{import,list}")
    imp = sub.add_parser("import", help="load an OCI archive (image-layout tar)")
    imp.add_argument("archive")
    imp.add_argument("--state-dir", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    ls = sub.add_parser("list", help="the images present on this node")
    ls.add_argument("--state-dir", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    return p.parse_args(argv)


def _size(dirs: list[str]) -> int:
    total = 0
    for d in dirs:
        for root, _, files in os.walk(d):
            for f in files:
                try:
                    total += os.lstat(os.path.join(root, f)).st_size
                except OSError:
                    pass
    return total


def _human(n: float) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f}{unit}" if unit == "B" else f"{n:.1f}{unit}"
        n /= 1000
    return f"{n:.1f}GB"


async def _run(args: argparse.Namespace) -> int:
    from .images import ImageStore
    from .images.store import ImageError

    store = ImageStore(os.path.join(args.state_dir, "images"))
    try:
        if args.verb == "import":
            if not os.path.isfile(args.archive):
                print(f"pyctl-agent images: error: {args.archive}: no such file", file=sys.stderr)
                return 1
            try:
                images = await store.import_archive(args.archive)
            except ImageError as exc:
                print(f"pyctl-agent images: error: {exc.message}", file=sys.stderr)
                return 1
            if not images:
                print(f"pyctl-agent images: error: {args.archive} names no image (its index.json has no "
                      "org.opencontainers.image.ref.name annotation); nothing imported", file=sys.stderr)
                return 1
            for img in images:
                print(f"imported {img.reference} ({img.id[:19]})")
            return 0
        rows = [("IMAGE", "IMAGE ID", "SIZE")] + [
            (img.reference, img.id.removeprefix("sha256:")[:12], _human(_size(img.lowerdirs)))
            for img in store.images()]
        widths = [max(len(r[i]) for r in rows) for i in range(3)]
        for r in rows:
            print("   ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())
        return 0
    finally:
        await store.close()


def main(argv: list[str]) -> int:
    return asyncio.run(_run(parse_args(argv)))
