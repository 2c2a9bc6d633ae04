"""`mpp completions SHELL`: print the shell's completion script (the same files ship in completions/).

The scripts are Typer's: each Tab runs `mpp` with `_MPP_COMPLETE=complete_<shell>`, so completion
always follows the installed command tree; `main()` in `mppcli.cli.app` turns that variable on.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

import typer

from mppcli.cli.env import Env
from mppcli.cli.options import JsonOpt
from mppcli.cli.output import Outcome
from mppcli.cli.runtime import run


class Shell(StrEnum):
    bash = "bash"
    zsh = "zsh"
    fish = "fish"
    powershell = "powershell"


INSTALL_HELP = """Print the completion script for SHELL on stdout.

Install it once, for example:

\b
  bash:  dir=~/.local/share/bash-completion/completions
         mkdir -p $dir && mpp completions bash > $dir/mpp
  zsh:   mpp completions zsh > ~/.mpp-completion.zsh
         and in ~/.zshrc, after compinit: source ~/.mpp-completion.zsh
  fish:  mpp completions fish > ~/.config/fish/completions/mpp.fish
  pwsh:  mpp completions powershell >> $PROFILE
"""


def completion_script(shell: str) -> str:
    """The script for `shell`, as `_MPP_COMPLETE=source_<shell> mpp` would print it."""
    from mppcli.cli.completion_var import COMPLETE_VAR
    from mppcli.cli.typer_private import get_completion_script

    return get_completion_script(prog_name="mpp", complete_var=COMPLETE_VAR, shell=shell) + "\n"


def completions_cmd(
    ctx: typer.Context,
    shell: Annotated[Shell, typer.Argument(metavar="SHELL", help="bash, zsh, fish or powershell.")],
    json: JsonOpt = False,
) -> None:
    def action(env: Env) -> Outcome:
        script = completion_script(shell.value)
        return Outcome({"shell": shell.value, "script": script}, human=script.rstrip("\n"))

    run(ctx, json, action)


def register(app: typer.Typer) -> None:
    """Add `mpp completions` to `app`."""
    app.command("completions", help=INSTALL_HELP)(completions_cmd)
