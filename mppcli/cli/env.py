"""The per-invocation environment: streams, TTY flags, paths and output mode.

Built when a command runs (never at import), carried on `ctx.obj`, and overridable in tests.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import IO

from mppcli.paths import Paths, resolve_paths


@dataclass(frozen=True)
class Env:
    """What a command needs to know about where it runs."""

    paths: Paths
    json: bool = False
    verbose: int = 0
    debug: bool = False
    no_color: bool = False
    silent: bool = False  # `request -s`: no progress lines (errors and warnings still show)
    stdout: IO[str] = field(default_factory=lambda: sys.stdout)
    stderr: IO[str] = field(default_factory=lambda: sys.stderr)
    stdin_is_tty: bool = False
    stderr_is_tty: bool = False
    clock: Callable[[], float] = time.time
    environ: dict[str, str] = field(default_factory=lambda: dict(os.environ))

    @classmethod
    def detect(cls, *, json: bool = False, verbose: int = 0, debug: bool = False,
               no_color: bool = False) -> Env:
        environ = dict(os.environ)
        return cls(
            paths=resolve_paths(environ),
            json=json,
            verbose=verbose,
            debug=debug,
            no_color=no_color or "NO_COLOR" in environ or environ.get("TERM") == "dumb",
            stdin_is_tty=_isatty(sys.stdin),
            stderr_is_tty=_isatty(sys.stderr),
            environ=environ,
        )

    def with_json(self, json: bool) -> Env:
        return self if not json or self.json else replace(self, json=True)

    @property
    def can_prompt(self) -> bool:
        """Prompts need a terminal on stdin and stderr, and never happen under CI."""
        return self.stdin_is_tty and self.stderr_is_tty and not self.environ.get("CI")

    def info(self, message: str) -> None:
        """A progress/status line on stderr (silent in JSON mode unless -v)."""
        if (not self.json or self.verbose) and not self.silent:
            print(message, file=self.stderr, flush=True)

    def warn(self, message: str) -> None:
        print(f"warning: {message}", file=self.stderr, flush=True)

    def debug_log(self, message: str) -> None:
        if self.verbose >= 2:
            print(f"debug: {message}", file=self.stderr, flush=True)


def _isatty(stream: object) -> bool:
    try:
        return bool(stream.isatty())  # type: ignore[attr-defined]
    except (AttributeError, ValueError):
        return False
