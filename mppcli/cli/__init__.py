"""The `mpp` command line: Typer commands that parse flags, call one flow and render the result."""
