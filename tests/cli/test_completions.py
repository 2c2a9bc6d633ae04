"""Shell completion: the committed scripts are current, and real bash, zsh and fish complete with them."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import REPO, mpp
from tests.wallet.keyring_support import real_keyring

__all__ = ["real_keyring"]

SHELL_FILES = {"bash": "mpp.bash", "zsh": "_mpp", "fish": "mpp.fish", "powershell": "mpp.ps1"}


@pytest.fixture(scope="module")
def mpp_on_path(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """An environment whose PATH has an `mpp` that runs this checkout with this interpreter."""
    bin_dir = tmp_path_factory.mktemp("bin")
    (bin_dir / "mpp").write_text(f'#!/bin/sh\nexec "{sys.executable}" -m mppcli "$@"\n')
    (bin_dir / "mpp").chmod(0o755)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("_MPP", "_TYPER"))}
    env.update(PATH=f"{bin_dir}{os.pathsep}{env['PATH']}", PYTHONPATH=str(REPO),
               MPP_HOME=str(tmp_path_factory.mktemp("home")))
    yield env


def _need(shell: str) -> str:
    path = shutil.which(shell)
    if path is None:
        pytest.skip(f"{shell} is not installed (scripts/test installs it)")
    return path


def test_committed_scripts_are_what_gen_completions_writes(tmp_path: Path) -> None:
    out = subprocess.run([str(REPO / "scripts" / "gen-completions"), str(tmp_path)], capture_output=True,
                         text=True, env={**os.environ, "PYTHON": sys.executable}, check=False)
    assert out.returncode == 0, out.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(SHELL_FILES.values())
    for name in SHELL_FILES.values():
        committed = REPO / "completions" / name
        assert committed.read_text() == (tmp_path / name).read_text(), (
            f"completions/{name} is stale: run scripts/gen-completions")


@pytest.mark.parametrize("shell", list(SHELL_FILES))
def test_command_prints_what_the_completion_variable_prints(shell: str, mpp_on_path: dict[str, str]) -> None:
    run = mpp("completions", shell)
    assert run.exit_code == 0, run
    via_var = subprocess.run([sys.executable, "-m", "mppcli"], capture_output=True, text=True, check=False,
                             env={**mpp_on_path, "_MPP_COMPLETE": f"source_{shell}"})
    assert via_var.stdout.strip() == run.stdout.strip()
    assert "_MPP_COMPLETE=complete_" in run.stdout or "_MPP_COMPLETE = \"complete_" in run.stdout
    as_json = mpp("completions", shell, "--json")
    assert as_json.json == {"shell": shell, "script": run.stdout}


def test_unknown_shell_is_a_usage_error() -> None:
    run = mpp("--json", "completions", "tcsh")
    assert run.exit_code == 2, run
    assert run.json["error"]["code"] == "E_USAGE"


def _bash_complete(env: dict[str, str], *words: str) -> list[str]:
    script = (f'source "{REPO}/completions/mpp.bash"\n'
              'complete -p mpp >/dev/null || exit 3\n'
              'COMP_WORDS=("$@"); COMP_CWORD=$(( $# - 1 ))\n'
              '_mpp_completion mpp\n'
              'printf "%s\\n" "${COMPREPLY[@]}"\n')
    out = subprocess.run([_need("bash"), "--norc", "-c", script, "bash", *words], capture_output=True,
                         text=True, env=env, timeout=60, check=False)
    assert out.returncode == 0, out.stderr
    return out.stdout.split()


def test_bash_completes_a_subcommand_and_a_flag(mpp_on_path: dict[str, str]) -> None:
    assert _bash_complete(mpp_on_path, "mpp", "conf") == ["config"]
    assert _bash_complete(mpp_on_path, "mpp", "config", "") == ["get", "set", "unset", "list"]
    assert _bash_complete(mpp_on_path, "mpp", "completions", "--js") == ["--json"]
    assert _bash_complete(mpp_on_path, "mpp", "config", "get", "rpc") == ["rpc_url"]


def test_fish_completes_a_subcommand_and_a_flag(mpp_on_path: dict[str, str]) -> None:
    fish = _need("fish")

    def complete(line: str) -> list[str]:
        script = f'source "{REPO}/completions/mpp.fish"; complete -C "{line}"'
        out = subprocess.run([fish, "--no-config", "-c", script], capture_output=True, text=True,
                             env=mpp_on_path, timeout=60, check=False)
        assert out.returncode == 0, out.stderr
        return [row.split("\t")[0] for row in out.stdout.splitlines()]

    assert complete("mpp conf") == ["config"]
    assert sorted(complete("mpp config ")) == ["get", "list", "set", "unset"]
    assert complete("mpp completions --js") == ["--json"]


# Drives an interactive zsh through zpty: types the words, presses Tab, then ^G, bound to a widget
# that writes the edit buffer to a file. Keys are handled in order, so ^G sees the completed line.
ZSH_DRIVER = r"""
zmodload zsh/zpty
zpty z zsh -f -i
zpty -w z "autoload -Uz compinit; compinit -u -D; source ${(q)MPP_SCRIPT}"
zpty -w z "dump() { print -r -- \"\$BUFFER\" > ${(q)MPP_OUT}; }; zle -N dump; bindkey '^G' dump"
zpty -w -n z "${MPP_TYPED}"$'\t'
zpty -w -n z $'\a'
for i in {1..300}; do [[ -s $MPP_OUT ]] && break; sleep 0.1; zpty -r -t z junk; done
zpty -d z
"""


def test_zsh_completes_a_subcommand_and_a_flag(mpp_on_path: dict[str, str], tmp_path: Path) -> None:
    zsh = _need("zsh")

    def complete(typed: str) -> str:
        out_file = tmp_path / f"buffer-{abs(hash(typed))}"
        env = {**mpp_on_path, "MPP_SCRIPT": str(REPO / "completions" / "_mpp"), "MPP_TYPED": typed,
               "MPP_OUT": str(out_file)}
        run = subprocess.run([zsh, "-f", "-c", ZSH_DRIVER], capture_output=True, text=True, env=env,
                             timeout=60, check=False)
        assert out_file.exists(), run.stderr
        return out_file.read_text().rstrip("\n")

    assert complete("mpp conf") == "mpp config "
    assert complete("mpp config s") == "mpp config set "
    assert complete("mpp completions --js") == "mpp completions --json "


def test_readme_and_completions_help_give_one_install_path() -> None:
    """#14 item 12: the README's bash lines are the ones `mpp completions --help` gives."""
    readme = (REPO / "README.md").read_text()
    block = readme.split("Shell completion for bash", 1)[1].split("```sh\n", 1)[1].split("```", 1)[0]
    lines = [line for line in block.splitlines() if line]
    assert any("mpp completions bash >" in line for line in lines), lines
    shown = mpp("completions", "--help")
    assert shown.exit_code == 0
    for line in lines:
        assert line in shown.stdout, (line, shown.stdout)


@pytest.mark.keyring
@pytest.mark.usefixtures("real_keyring")
def test_bash_completes_wallets_channels_signers_keys_and_monikers(mpp_on_path: dict[str, str]) -> None:
    from mppcli.paths import resolve_paths
    from mppcli.state.store import ChannelStore
    from tests.state.factory import make_record

    made = subprocess.run([sys.executable, "-m", "mppcli", "wallet", "new", "alice"], env=mpp_on_path,
                          capture_output=True, check=False)
    assert made.returncode == 0, made.stderr
    store = ChannelStore(resolve_paths({"MPP_HOME": mpp_on_path["MPP_HOME"]}))
    channel = store.create(make_record()).channel_id
    url = "http://127.0.0.1:8402/paid"
    assert _bash_complete(mpp_on_path, "mpp", "wallet", "show", "al") == ["alice"]
    assert _bash_complete(mpp_on_path, "mpp", "request", url, "-w", "") == ["alice"]
    assert _bash_complete(mpp_on_path, "mpp", "channels", "show", channel[:3]) == [channel]
    assert _bash_complete(mpp_on_path, "mpp", "close", channel[:3]) == [channel]
    assert _bash_complete(mpp_on_path, "mpp", "request", url, "--channel", "") == ["auto", "new", channel]
    assert _bash_complete(mpp_on_path, "mpp", "request", url, "--signer", "") == ["session", "payer"]
    assert _bash_complete(mpp_on_path, "mpp", "request", url, "-u", "de") == ["devnet"]
    assert _bash_complete(mpp_on_path, "mpp", "config", "set", "max") == ["max_spend", "max_grace_period"]
