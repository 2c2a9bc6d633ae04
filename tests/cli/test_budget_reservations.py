"""The spend budget under commands running at once and commands that die (cli/budget.py): each
command reserves what it may spend, settles what it signed (never more than it reserved), and the
reservation of a command that died is settled by the next one. Real files, real processes."""

from __future__ import annotations

import json
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest

from mppcli.cli import budget as b
from mppcli.errors import InputError, PolicyError

NOW = 1_800_000_000.0


def _budget(tmp_path: Path, limit: str = "1") -> b.Budget:
    ledger = tmp_path / "run-budget.json"
    ledger.write_text(json.dumps({"limit": limit}))
    return b.Budget(Decimal(limit), None, ledger, "file", tmp_path / "locks")


def _last_pid() -> int:
    """The pid of a process that has exited (and been reaped): nothing lives under it now."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_commands_running_at_once_share_what_is_left(tmp_path: Path) -> None:
    budget = _budget(tmp_path)
    first = b.reserve(budget, Decimal("0.4"), NOW, signed=Decimal(0))
    second = b.reserve(budget, None, NOW, signed=Decimal(0))  # no --max-spend: all that is left
    assert (first.amount, second.amount) == (Decimal("0.4"), Decimal("0.6"))
    with pytest.raises(PolicyError, match="held by running commands"):
        b.reserve(budget, Decimal("0.01"), NOW, signed=Decimal(0))
    b.settle(budget, first, Decimal("0.1"), NOW)  # it spent less than it held: the rest is free again
    assert b.standing(budget, NOW).remaining == Decimal("0.3")
    b.settle(budget, second, Decimal("5"), NOW)  # what others signed meanwhile: never above its hold
    shown = b.standing(budget, NOW)
    assert (shown.spent, shown.reserved, shown.remaining) == (Decimal("0.7"), Decimal(0), Decimal("0.3"))
    assert "reservations" not in json.loads(budget.ledger.read_text())


def test_a_command_that_died_is_settled_from_what_the_machine_signed_since(tmp_path: Path) -> None:
    budget = _budget(tmp_path)
    held = b.reserve(budget, Decimal("0.5"), NOW, signed=Decimal("2"))
    other_host = b.reserve(budget, Decimal("0.2"), NOW, signed=Decimal("2"))
    data = json.loads(budget.ledger.read_text())
    data["reservations"][held.key]["pid"] = _last_pid()  # that command died without settling
    data["reservations"][other_host.key]["host"] = "another-machine"  # cannot be judged from here
    budget.ledger.write_text(json.dumps(data))
    assert b.standing(budget, NOW).reserved == Decimal("0.7")  # held until a paying command settles it
    b.reserve(budget, Decimal("0.1"), NOW, signed=Decimal("2.3"))
    shown = b.standing(budget, NOW)
    assert shown.spent == Decimal("0.3")  # 2.3 - 2: what was signed since it reserved, within 0.5
    assert shown.reserved == Decimal("0.3")  # the other host's 0.2 and the new 0.1


def test_a_dead_command_is_charged_at_most_what_it_held(tmp_path: Path) -> None:
    budget = _budget(tmp_path)
    held = b.reserve(budget, Decimal("0.25"), NOW, signed=Decimal(0))
    data = json.loads(budget.ledger.read_text())
    data["reservations"][held.key]["pid"] = _last_pid()
    budget.ledger.write_text(json.dumps(data))
    b.reserve(budget, Decimal("0.1"), NOW, signed=Decimal("9"))
    assert b.standing(budget, NOW).spent == Decimal("0.25")


@pytest.mark.parametrize("damage", [
    {"spent": "lots"},
    {"spent": 1.5},
    {"reservations": []},
    {"reservations": {"k": {"amount": "NaN", "pid": 1, "host": "h", "signedBefore": "0"}}},
    {"reservations": {"k": {"amount": "1", "pid": True, "host": "h", "signedBefore": "0"}}},
    {"reservations": {"k": {"amount": "1", "pid": 1, "signedBefore": "0"}}},
])
def test_a_damaged_ledger_is_refused_and_left_as_it_is(tmp_path: Path, damage: dict[str, object]) -> None:
    budget = _budget(tmp_path)
    text = json.dumps({"limit": "1", **damage})
    budget.ledger.write_text(text)
    with pytest.raises(InputError, match="damaged"):
        b.reserve(budget, None, NOW, signed=Decimal(0))
    assert budget.ledger.read_text() == text
