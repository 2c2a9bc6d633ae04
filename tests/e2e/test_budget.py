"""#14 item 14: a spend budget across commands, refused with exit 5 when exhausted, shown by
`mpp wallet show`; the `budget` setting (with a period) and `--budget-file` for an agent run."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.support import PayerHome, served_fixture, wallet_payer
from tests.server.harness import ServerProcess
from tests.wallet.keyring_support import real_keyring

pytestmark = [pytest.mark.slow, pytest.mark.keyring, pytest.mark.usefixtures("real_keyring")]
__all__ = ["real_keyring"]

served = served_fixture("--min-deposit", "0.01", "--suggested-deposit", "0.05")  # --price 0.01


@pytest.fixture
def payer(served: ServerProcess, tmp_path: Path) -> PayerHome:
    return wallet_payer(tmp_path / "payer", served.chain)


def test_a_daily_budget_spans_commands_and_refuses_when_spent(served: ServerProcess,
                                                              payer: PayerHome) -> None:
    paid = f"{served.url}/paid"
    assert payer.mpp("config", "set", "budget", "0.02/day").exit_code == 0
    for _ in range(2):
        run = payer.mpp("--json", "request", paid, "--yes")
        assert run.exit_code == 0, run
    refused = payer.mpp("--json", "request", paid)
    assert refused.exit_code == 5, refused
    error = refused.json["error"]
    assert error["code"] == "E_POLICY" and "budget is exhausted" in error["message"], error
    assert payer.record(run.json["channelId"])["signedCumulative"] == "20000"  # nothing signed past it
    shown = payer.mpp("--json", "wallet", "show", "-u", payer.rpc_url)
    budget = shown.json["budget"]
    shown_values = (budget["limit"], budget["period"], budget["spent"], budget["remaining"])
    assert shown_values == ("0.02", "day", "0.02", "0"), budget
    human = payer.mpp("wallet", "show", "-u", payer.rpc_url)
    assert "budget   0.02 of 0.02 spent this day; resets " in human.stdout, human.stdout
    assert payer.mpp("config", "set", "budget", "0.03/day").exit_code == 0
    assert payer.mpp("request", paid).exit_code == 0  # raised: one more request fits


def test_a_budget_file_bounds_an_agent_run(served: ServerProcess, payer: PayerHome, tmp_path: Path) -> None:
    paid = f"{served.url}/paid"
    budget = tmp_path / "run-budget.json"
    budget.write_text('{"limit": "0.015"}')
    first = payer.mpp("--json", "request", paid, "--yes", "--budget-file", str(budget))
    assert first.exit_code == 0, first
    assert json.loads(budget.read_text())["spent"] == "0.01"
    second = payer.mpp("--json", "request", paid, "--budget-file", str(budget))
    assert second.exit_code == 5 and second.json["error"]["code"] == "E_POLICY", second  # 0.005 < price
    assert json.loads(budget.read_text())["spent"] == "0.01"
    # without the file no budget applies (the capped deposit of 0.015 now needs a top-up: allow one)
    assert payer.mpp("--json", "request", paid, "--max-spend", "1").exit_code == 0


def test_a_command_running_holds_its_share_and_one_killed_returns_it(served: ServerProcess,
                                                                     tmp_path: Path) -> None:
    """Two agents on one budget file: while one waits (holding what it may spend), the other is
    refused with exit 5 instead of spending the same money; a command killed while holding its
    share gives back what it did not sign."""
    from mppcli.paths import resolve_paths
    from mppcli.state.store import ChannelStore
    from tests.e2e.support import file_payer

    paid = f"{served.url}/paid"
    agent = file_payer(tmp_path / "agent", served.chain)
    budget = tmp_path / "run-budget.json"
    budget.write_text('{"limit": "0.01"}')
    pay = ("--json", "request", paid, "--signer", "payer", "--budget-file", str(budget))
    opened = agent.mpp("--json", "open", paid, "--yes", "--signer", "payer")
    assert opened.exit_code == 0, opened
    store = ChannelStore(resolve_paths({"MPP_HOME": str(agent.home)}))
    channel_id = opened.json["channelId"]
    with store.lock(channel_id, purpose="a test holding the channel"):
        killed = _waiting_with_its_share(agent, store, channel_id, pay, budget)
        killed.kill()
        killed.communicate(timeout=120)
    with store.lock(channel_id, purpose="a test holding the channel"):
        # this one's reservation settles the killed one's first: it signed nothing, so costs nothing
        waiting = _waiting_with_its_share(agent, store, channel_id, pay, budget)
    out, err = waiting.communicate(timeout=120)
    assert waiting.returncode == 0, (out, err)
    ledger = json.loads(budget.read_text())
    assert ledger["spent"] == "0.01" and "reservations" not in ledger, ledger
    assert agent.record(channel_id)["signedCumulative"] == "10000"


def _waiting_with_its_share(agent: PayerHome, store: Any, channel_id: str, pay: tuple[str, ...],
                            budget: Path) -> subprocess.Popen[bytes]:
    """Start a paying command that waits for the channel the test holds, and show that while it
    waits a second command on the same budget is refused."""
    from tests.e2e.file_opens import OpenWatch

    [lock_file] = store.locks_dir.glob(f"*{channel_id}*")
    with OpenWatch(lock_file) as watch:
        waiting = agent.popen(*pay, "--wait", "120")
        # it tries the channel lock only after reserving its share of the budget
        trying = watch.wait_for(1, timeout=120, unless=lambda: waiting.poll() is not None)
        assert trying and waiting.poll() is None, waiting.communicate()
    held = json.loads(budget.read_text())["reservations"]
    assert [r["amount"] for r in held.values()] == ["0.01"], held
    second = agent.mpp(*pay)
    assert second.exit_code == 5 and second.json["error"]["code"] == "E_POLICY", second
    assert "held by running commands" in second.json["error"]["message"], second
    return waiting
