"""The architecture as a checked contract: the import layering of pyproject.toml's
[tool.importlinter] holds (components never import the store or the API server, the agent never
imports the control plane, machinery and resources stay pure, the CLI goes through its client, no
two sibling modules import each other), and the typed packages pass mypy."""

from __future__ import annotations

import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]


def test_the_layering_contracts_hold(tmp_path):
    lint_imports = pathlib.Path(sys.executable).parent / "lint-imports"
    done = subprocess.run([str(lint_imports), "--no-cache"], cwd=ROOT, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr


def test_the_typed_packages_pass_mypy(tmp_path):
    done = subprocess.run([sys.executable, "-m", "mypy", "--cache-dir", str(tmp_path / "cache")],
                          cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
