"""#14 item 14: a spend budget across commands, refused with exit 5 when exhausted, shown by
`mpp wallet show`; the `budget` setting (with a period) and `--budget-file` for an agent run."""

from __future__ import annotations

import json
from pathlib import Path

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
