"""Man pages: current with the command tree, and rendered by man(1) without a warning."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import REPO

MAN_DIR = REPO / "man"


def _pages() -> list[Path]:
    return sorted(MAN_DIR.glob("*.1"))


def _render(page: Path) -> subprocess.CompletedProcess[str]:
    man = shutil.which("man")
    if man is None:
        pytest.skip("man is not installed (scripts/test installs man-db)")
    env = {**os.environ, "MANWIDTH": "80", "MANPAGER": "cat", "PAGER": "cat", "LC_ALL": "C.UTF-8"}
    return subprocess.run([man, "--warnings=w", "-l", str(page)], capture_output=True, text=True,
                          env=env, timeout=60, check=False)


def test_committed_pages_are_what_gen_man_writes(tmp_path: Path) -> None:
    out = subprocess.run([str(REPO / "scripts" / "gen-man"), str(tmp_path)], capture_output=True,
                         text=True, env={**os.environ, "PYTHON": sys.executable}, check=False)
    assert out.returncode == 0, out.stderr
    fresh = sorted(p.name for p in tmp_path.iterdir())
    assert [p.name for p in _pages()] == fresh, "man/ is stale: run scripts/gen-man"
    for name in fresh:
        assert (MAN_DIR / name).read_text() == (tmp_path / name).read_text(), (
            f"man/{name} is stale: run scripts/gen-man")


def test_there_is_a_page_per_top_level_command() -> None:
    import typer.main

    from mppcli.cli.root import app

    group = typer.main.get_command(app)
    names = {p.name for p in _pages()}
    assert "mpp.1" in names
    assert {f"mpp-{name}.1" for name in group.commands} == names - {"mpp.1"}  # type: ignore[attr-defined]


@pytest.mark.parametrize("page", _pages(), ids=lambda p: p.name)
def test_page_renders_cleanly_in_80_columns(page: Path) -> None:
    run = _render(page)
    assert run.returncode == 0, run.stderr
    assert run.stderr == "", f"man warnings for {page.name}:\n{run.stderr}"
    text = subprocess.run(["col", "-b"], input=run.stdout, capture_output=True, text=True, check=True).stdout
    lines = text.splitlines()
    assert {"NAME", "SYNOPSIS", "DESCRIPTION"} <= set(lines)
    too_wide = [line for line in lines if len(line.expandtabs()) > 80]
    assert too_wide == []
    assert "\\f" not in text and not any(line.startswith(".") for line in lines), "raw roff leaked"


def test_root_page_lists_commands_environment_and_exit_codes() -> None:
    run = _render(MAN_DIR / "mpp.1")
    text = subprocess.run(["col", "-b"], input=run.stdout, capture_output=True, text=True, check=True).stdout
    for page in _pages():
        if page.name != "mpp.1":
            assert page.stem.replace("mpp-", "mpp ", 1) in text
            assert f"{page.stem}(1)" in text
    for needle in ("MPP_HOME", "MPP_RPC_URL", "MPP_MAX_SPEND", "config.toml", "E_NETWORK_MISMATCH",
                   "--json", "--version"):
        assert needle in text, needle


def test_every_page_has_examples_of_its_own_command() -> None:
    """#14 item 13: an EXAMPLES section in every page, each example running that page's command."""
    from mppcli.cli.examples import EXAMPLES

    for page in _pages():
        name = page.name.removesuffix(".1")
        assert ".SH EXAMPLES" in page.read_text(), page.name
        examples = EXAMPLES.get(name, ())
        assert examples, f"no examples for {name}"
        command = name.partition("-")[2]
        for example, _ in examples:
            assert example.startswith("mpp ") and (not command or command in example.split()), (name, example)
