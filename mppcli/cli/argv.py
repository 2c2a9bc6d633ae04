"""Global options in any position, as with the solana CLI (#14 item 4).

`-v`, `--no-color` and `--debug` belong to the root command and `-u`, `-k`, `-w` to the commands
that use an RPC or a payer; `--json` is on both. Users type them anywhere (`mpp -u l request URL`,
`mpp request URL -v`), so before click parses, root flags found after the command move to the
front and `-u`/`-k`/`-w` found before it move behind the command path. The command tree says
which options take a value, so a value that looks like a flag (`-d -v`) is never moved.
"""

from __future__ import annotations

from typing import Any

ROOT_FLAGS = frozenset({"-v", "-vv", "-vvv", "--verbose", "--no-color", "--debug"})
COMMAND_VALUE_OPTIONS = frozenset({"-u", "--url", "--rpc-url", "-k", "--keypair", "-w", "--wallet"})


def normalise(args: list[str], root: Any) -> list[str]:
    """`args` with the global options where click expects them; anything else keeps its order."""
    front: list[str] = []
    moved: list[str] = []
    i = 0
    while i < len(args) and args[i].startswith("-") and args[i] != "--":
        arg = args[i]
        name = arg.split("=", 1)[0]
        if name in COMMAND_VALUE_OPTIONS:
            width = 1 if "=" in arg else 2
            moved += args[i:i + width]
            i += width
            continue
        front.append(arg)
        i += 1
    command, path = root, []
    while i < len(args) and args[i] in getattr(command, "commands", {}):
        command = command.commands[args[i]]
        path.append(args[i])
        i += 1
    own = _option_names(command)
    takes_value = {name for name, valued in own.items() if valued}
    kept: list[str] = []
    rest = args[i:]
    j = 0
    while j < len(rest):
        arg = rest[j]
        if arg == "--":
            kept += rest[j:]
            break
        if arg in ROOT_FLAGS and arg not in own:
            front.append(arg)
            j += 1
            continue
        width = 2 if arg in takes_value else 1
        kept += rest[j:j + width]
        j += width
    return [*front, *path, *moved, *kept]


def _option_names(command: Any) -> dict[str, bool]:
    """Every option spelling of `command`, and whether it takes a value."""
    names: dict[str, bool] = {}
    for param in getattr(command, "params", ()):
        if getattr(param, "param_type_name", "") != "option":
            continue
        valued = not (getattr(param, "is_flag", False) or getattr(param, "count", False))
        for name in (*param.opts, *param.secondary_opts):
            names[name] = valued
    return names
