"""Files written once and never replaced: the cluster's keys and certificates."""

from __future__ import annotations

import os
from pathlib import Path


def write_new(path: str | Path, data: bytes, mode: int) -> None:
    """Create `path` with `mode` and `data`; FileExistsError if it exists. O_EXCL: never
    overwrite, even when two processes race to create the same file."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
