"""How the modelled channel program fails: its own codes (by IDL name) or a runtime error."""

from __future__ import annotations

from mppcli.chain.program_errors import code_of
from mppcli.ledger.host import CustomError, ProgramFailure


def fail(name: str, detail: str = "") -> CustomError:
    """The program's custom error `name` (e.g. `openSlotOutOfWindow` -> Custom(2003))."""
    return CustomError(code_of(name), f"{name}{': ' + detail if detail else ''}")


def runtime(name: str, detail: str = "") -> ProgramFailure:
    """A built-in ProgramError (e.g. `NotEnoughAccountKeys`, `InvalidAccountOwner`)."""
    return ProgramFailure(name, f"{name}{': ' + detail if detail else ''}")
