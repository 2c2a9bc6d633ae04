"""The wheel users get from `pip install .` carries everything `mpp` needs at run time (idl/ too)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.support import REPO


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Build the wheel from this checkout and install it (no deps) into a fresh target dir."""
    work = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(work), str(REPO)],
                   check=True, capture_output=True)
    (wheel,) = work.glob("mppcli-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "mppcli/_idl/payment_channels.v2.json" in names
    target = work / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(target),
                    str(wheel)], check=True, capture_output=True)
    return target


def _run(target: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=str(target))
    return subprocess.run([sys.executable, *args], input=stdin, env=env, cwd=target.parent,
                          capture_output=True, text=True, check=False)


def test_the_installed_package_runs_from_the_wheel_not_the_checkout(installed: Path) -> None:
    out = _run(installed, "-c", "import mppcli, mppcli.chain.idl as i; print(mppcli.__file__)")
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().startswith(str(installed))
    version = _run(installed, "-m", "mppcli", "--version")
    assert version.returncode == 0 and version.stdout.startswith("mpp ")


def test_the_installed_package_reads_its_idl_from_the_wheel(installed: Path) -> None:
    request = {"mode": "instruction.encode",
               "input": {"name": "requestClose", "args": {},
                         "accounts": {"payer": "11111111111111111111111111111112",
                                      "channel": "SysvarRent111111111111111111111111111111111"}}}
    out = _run(installed, "-m", "mppcli.conformance", stdin=json.dumps(request))
    assert out.returncode == 0, out.stderr
    answer = json.loads(out.stdout)
    assert answer["ok"] is True, answer
    assert answer["output"]["dataHex"] == "05"
    assert answer["output"]["programId"] == "CHNLxYvVA28MJP9PrFuDXccuoGXAx7jBacfLEkahyGsX"


def test_the_installed_typer_is_in_the_range_whose_private_modules_we_import() -> None:
    """mppcli/cli/typer_private.py imports `typer._click` & co.: only the pinned range has them."""
    import importlib.metadata
    import tomllib

    from packaging.requirements import Requirement

    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    (typer,) = [Requirement(d) for d in project["dependencies"] if Requirement(d).name == "typer"]
    assert typer.specifier.contains(importlib.metadata.version("typer"))
    assert not typer.specifier.contains("0.25.1") and not typer.specifier.contains("0.30.0")
    from mppcli.cli import typer_private

    assert typer_private.UsageError.__module__.startswith("typer._click")


def test_the_wheel_puts_the_man_pages_where_man_finds_them(installed: Path) -> None:
    """`pip install` lays them out as <prefix>/share/man/man1 (#14 item 13)."""
    import shutil

    pages = installed / "share" / "man" / "man1"
    assert (pages / "mpp.1").is_file() and (pages / "mpp-request.1").is_file(), sorted(installed.iterdir())
    man = shutil.which("man")
    if man is None:
        pytest.skip("man is not installed")
    env = {**os.environ, "MANPAGER": "cat", "PAGER": "cat", "MANWIDTH": "80"}
    shown = subprocess.run([man, "-M", str(installed / "share" / "man"), "mpp-request"], env=env,
                           capture_output=True, text=True, check=False)
    assert shown.returncode == 0 and "EXAMPLES" in shown.stdout, shown.stderr
