"""The README's five-minute tour, run exactly as written (#14): the commands are parsed out of the
tour's ```sh block and run in order against the real `mpp serve` it starts, with no export and no
port substitution. It runs in a private network namespace (`unshare -rn`), so its fixed ports
(8402, and 8899 for the embedded ledger) are free even while other suites run."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import REPO
from tests.wallet.keyring_support import real_keyring

pytestmark = [pytest.mark.slow, pytest.mark.keyring, pytest.mark.usefixtures("real_keyring")]
__all__ = ["real_keyring"]

DRIVER = Path(__file__).with_name("tour_driver.py")
ISOLATE = ["unshare", "--user", "--map-root-user", "--net",
           "sh", "-c", 'ip link set lo up && exec "$@"', "sh"]


def tour_commands(readme: str) -> list[list[str]]:
    """Each command line of the block after `## A five-minute tour`, split as a shell would."""
    section = readme.split("## A five-minute tour", 1)[1]
    block = section.split("```sh\n", 1)[1].split("```", 1)[0]
    commands = [shlex.split(line, comments=True) for line in block.splitlines()]
    return [argv for argv in commands if argv]


def _isolation_available() -> bool:
    if not (shutil.which("unshare") and shutil.which("ip")):
        return False
    probe = subprocess.run([*ISOLATE, "true"], capture_output=True, check=False)
    return probe.returncode == 0


def test_the_tour_block_is_what_the_test_runs() -> None:
    commands = tour_commands((REPO / "README.md").read_text())
    assert commands[0] == ["mpp", "serve", "--port", "8402"]
    assert all(argv[0] == "mpp" for argv in commands)
    assert not any("export" in argv or "MPP_RPC_URL" in " ".join(argv) for argv in commands)
    assert ["mpp", "stream", "http://127.0.0.1:8402/stream?chunks=50"] in commands


def test_the_readme_tour_runs_as_written(tmp_path: Path) -> None:
    if not _isolation_available():
        pytest.skip("needs `unshare --user --net` and `ip` for a private loopback with the tour's ports")
    commands = tour_commands((REPO / "README.md").read_text())
    (tmp_path / "commands.json").write_text(json.dumps(commands))
    results_path = tmp_path / "results.json"
    env = {**os.environ, "MPP_HOME": str(tmp_path / "home")}
    for name in ("MPP_WALLET", "MPP_RPC_URL", "MPP_MAX_SPEND"):
        env.pop(name, None)
    driver = [sys.executable, str(DRIVER), str(tmp_path / "commands.json"), str(results_path)]
    subprocess.run([*ISOLATE, *driver], env=env, cwd=tmp_path, check=True, timeout=900)
    results = json.loads(results_path.read_text())
    assert [r["argv"] for r in results] == commands, "every command ran"
    for result in results:
        if result.get("background"):
            assert result["stdout"].startswith("mpp serve ready at http://127.0.0.1:8402"), result
            assert "RPC http://127.0.0.1:8899" in result["stdout"], result
        else:
            assert result["code"] == 0, result
    by_command = {" ".join(r["argv"][:2]): r for r in results}
    request = by_command["mpp request"]
    assert json.loads(request["stdout"])["acceptedCumulative"] == "10000"
    assert "paid 0.01 USDC on channel" in request["stderr"], request
    assert "closed " in by_command["mpp close"]["stdout"] and "USDC" in by_command["mpp close"]["stdout"]
    assert "USDC" in results[-1]["stdout"], results[-1]  # `mpp wallet show -u l`: the refund is back
