"""The root `mpp` command: global options, the Env, and the command groups.

Each command module exposes `register(app)` and imports only Typer at module level; heavy
libraries (solana, solders, httpx, keyring, starlette) are imported inside the commands, so
`mpp --help` stays fast. The console entry point is `mppcli.cli.app.main`, which answers
`--version` before this module (and Typer) is imported.
"""

from __future__ import annotations

from typing import Annotated

import typer

from mppcli import __version__
from mppcli.cli import (
    channels,
    completions,
    config_cmd,
    doctor,
    inspect_cmd,
    ledger_cmd,
    pay,
    serve,
    voucher,
    wallet,
)
from mppcli.cli.env import Env
from mppcli.errors import MppError

app = typer.Typer(
    name="mpp",
    help="Pay for, and sell, metered HTTP APIs with Solana payment channels (MPP session intent).",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    pretty_exceptions_enable=False,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
    rich_markup_mode=None,
)


def _version(value: bool) -> None:
    if value:
        print(f"mpp {__version__}")
        raise typer.Exit(0)


@app.callback()
def root(
    ctx: typer.Context,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version.")
    ] = False,
    json: Annotated[bool, typer.Option("--json", help="JSON output for any command.")] = False,
    verbose: Annotated[
        int, typer.Option("--verbose", "-v", count=True, help="More detail on stderr (-vv: debug).")
    ] = 0,
    no_color: Annotated[bool, typer.Option("--no-color", help="Never use colour.")] = False,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks of unexpected errors.")] = False,
) -> None:
    """Global options, then a command."""
    ctx.obj = Env.detect(json=json or output_is_json(), verbose=verbose, debug=debug, no_color=no_color)


def output_is_json() -> bool:
    """The `output` setting (MPP_OUTPUT / config.toml) asks for JSON; a broken config means text.

    A broken config.toml must not stop `mpp config set` from repairing it, so errors here are
    left for the commands that read the settings they need.
    """
    import os

    from mppcli.config import resolve_setting
    from mppcli.paths import resolve_paths

    try:
        return resolve_setting(resolve_paths(dict(os.environ)), os.environ, "output").value == "json"
    except MppError:
        return False


for _module in (wallet, inspect_cmd, pay, channels, voucher, serve, ledger_cmd, doctor,
                completions, config_cmd):
    _module.register(app)
