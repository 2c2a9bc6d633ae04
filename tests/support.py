"""Helpers shared by the tests: run the real `mpp` command and read both streams and the code."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
# ../shared next to the checkout (MPP_TEST_SHARED points elsewhere, e.g. from a worktree).
SHARED = Path(os.environ.get("MPP_TEST_SHARED") or REPO.parent / "shared")
REFERENCE = SHARED / "reference"
VECTORS = REFERENCE / "vectors"


@dataclass(frozen=True)
class Run:
    """One finished `mpp` invocation."""

    args: tuple[str, ...]
    exit_code: int
    stdout: str
    stderr: str

    @property
    def json(self) -> Any:
        return json.loads(self.stdout)

    def __str__(self) -> str:
        head = f"mpp {' '.join(self.args)} -> {self.exit_code}"
        return f"{head}\nstdout:\n{self.stdout}\nstderr:\n{self.stderr}"


def mpp(*args: str, home: Path | None = None, env: dict[str, str] | None = None,
        input: str | bytes | None = None, timeout: float = 120) -> Run:
    """Run `python -m mppcli ARGS` as a user would, in a subprocess, with MPP_HOME=home."""
    full_env = dict(os.environ)
    full_env.pop("MPP_WALLET", None)
    full_env.pop("MPP_RPC_URL", None)
    full_env.pop("MPP_MAX_SPEND", None)
    if home is not None:
        full_env["MPP_HOME"] = str(home)
    full_env.update(env or {})
    data = input.encode() if isinstance(input, str) else input
    proc = subprocess.run([sys.executable, "-m", "mppcli", *args], input=data, env=full_env,
                          capture_output=True, timeout=timeout, check=False)
    return Run(tuple(args), proc.returncode, proc.stdout.decode(), proc.stderr.decode())


def load_vectors(name: str) -> Any:
    """A shared reference vector file, or None when ../shared is absent (a user's checkout)."""
    path = VECTORS / name
    if not path.exists():
        return None
    return json.loads(path.read_text())
