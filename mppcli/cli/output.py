"""Rendering results and errors: JSON on stdout with --json, human text otherwise.

stdout carries only the payload; everything else goes to stderr (CLI.md conventions).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from mppcli.cli.env import Env
from mppcli.cli.jsontext import dumps
from mppcli.errors import MppError


@dataclass(frozen=True)
class Outcome:
    """A command's result: the JSON object, and optionally the human text for stdout."""

    data: Mapping[str, object]
    human: str | None = None


def render_outcome(env: Env, outcome: Outcome) -> None:
    if env.json:
        print(dumps(dict(outcome.data)), file=env.stdout, flush=True)
        return
    text = outcome.human if outcome.human is not None else human_lines(outcome.data)
    if text:
        print(text, file=env.stdout, flush=True)


def human_lines(data: Mapping[str, object]) -> str:
    """A plain `key: value` listing, for results with no custom human form."""
    lines = []
    for key, value in data.items():
        plain = isinstance(value, str | int | float | bool)
        shown = "-" if value is None else value if plain else dumps(value)
        lines.append(f"{key}: {shown}")
    return "\n".join(lines)


def render_error(env: Env, error: MppError) -> None:
    if env.json:
        print(dumps({"ok": False, "error": error.to_json()}), file=env.stdout, flush=True)
        return
    from mppcli.cli.units import with_symbols

    print(f"error[{error.code}]: {with_symbols(error.message)}", file=env.stderr)
    if error.hint:
        print(f"hint: {error.hint}", file=env.stderr)
    env.stderr.flush()
