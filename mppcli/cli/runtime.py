"""The one outer wrapper every command runs through: errors, Ctrl-C, broken pipes.

An `MppError` renders itself (text or JSON envelope) and exits with its code; Ctrl-C exits 130
after the flow has saved its state; anything else is a bug: exit 1, traceback only with --debug.
"""

from __future__ import annotations

import sys
import traceback
from collections.abc import Callable

import typer

from mppcli.cli.env import Env
from mppcli.cli.output import Outcome, render_error, render_outcome
from mppcli.errors import InternalError, Interrupted, MppError


def current_env(ctx: typer.Context, json: bool = False) -> Env:
    """The Env built by the root callback (or a fresh one), switched to JSON if asked."""
    root = ctx.find_root()
    env = root.obj if isinstance(root.obj, Env) else Env.detect()
    return env.with_json(json)


def run(ctx: typer.Context, json: bool, action: Callable[[Env], Outcome | None]) -> None:
    """Run `action` with the command's Env, render its outcome, map every failure to an exit."""
    env = current_env(ctx, json)
    try:
        outcome = action(env)
    except MppError as exc:
        render_error(env, exc)
        raise typer.Exit(exc.exit_code) from None
    except KeyboardInterrupt:
        render_error(env, Interrupted("interrupted"))
        raise typer.Exit(Interrupted.exit_code) from None
    except BrokenPipeError:
        _silence_stdout()
        raise typer.Exit(0) from None
    except typer.Exit:
        raise
    except Exception as exc:  # a bug: never show locals, show the traceback only with --debug
        if env.debug:
            traceback.print_exc(file=env.stderr)
        render_error(env, InternalError(f"unexpected {type(exc).__name__}: {exc}"))
        raise typer.Exit(InternalError.exit_code) from None
    if outcome is not None:
        try:
            render_outcome(env, outcome)
        except BrokenPipeError:
            _silence_stdout()


def _silence_stdout() -> None:
    """After EPIPE, point stdout at devnull so the interpreter's final flush stays quiet."""
    import os

    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
