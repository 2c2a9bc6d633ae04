"""The environment variable Typer's completion scripts set on each Tab (`_MPP_COMPLETE=complete_bash`).

A leaf: `mppcli.cli.app` reads it before Typer is imported, `mppcli.cli.completions` writes it into
the scripts; neither imports the other for it.
"""

COMPLETE_VAR = "_MPP_COMPLETE"
