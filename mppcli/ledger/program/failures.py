"""How the modelled channel program fails: its own codes (by IDL name) or a runtime error."""

from __future__ import annotations

from collections.abc import Sequence

from solders.pubkey import Pubkey

from mppcli.chain.program_errors import code_of
from mppcli.chain.splits import Split, SplitRejected, validate_splits
from mppcli.ledger.host import CustomError, ProgramFailure


def fail(name: str, detail: str = "") -> CustomError:
    """The program's custom error `name` (e.g. `openSlotOutOfWindow` -> Custom(2003))."""
    return CustomError(code_of(name), f"{name}{': ' + detail if detail else ''}")


def runtime(name: str, detail: str = "") -> ProgramFailure:
    """A built-in ProgramError (e.g. `NotEnoughAccountKeys`, `InvalidAccountOwner`)."""
    return ProgramFailure(name, f"{name}{': ' + detail if detail else ''}")


def check_splits(splits: Sequence[Split], channel: Pubkey | None = None) -> None:
    """chain's split rules (the one copy), failing with the program's code for the broken rule."""
    try:
        validate_splits(splits, channel)
    except SplitRejected as exc:
        raise fail(exc.error, str(exc)) from None
