"""The only place that reaches into Typer's private modules; pyproject pins typer to where they exist.

Typer 0.26 began bundling its own copy of click as `typer._click` (before, it depended on the
`click` package); its completion helpers live in `typer._completion_*`. None of this is public
API, so `pyproject.toml` admits only the typer releases checked to have these names
(`typer>=0.26,<0.30`) and tests/test_packaging.py fails when the installed typer leaves that range.
Each name is imported by its user only when needed (start-up time: see `mppcli.cli.app`).
"""

from __future__ import annotations

from typer._click.core import ParameterSource
from typer._click.exceptions import UsageError
from typer._completion_classes import completion_init
from typer._completion_shared import get_completion_script

__all__ = ["ParameterSource", "UsageError", "completion_init", "get_completion_script"]
