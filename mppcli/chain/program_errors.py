"""The program's custom error codes (`InstructionError(i, Custom(code))`), named from the IDL."""

from __future__ import annotations

from collections.abc import Mapping

from mppcli.chain.idl import ErrorDef, load_idl

ProgramError = ErrorDef


def errors() -> Mapping[int, ProgramError]:
    """Every code the program can return."""
    return load_idl().errors


def lookup(code: int) -> ProgramError | None:
    return errors().get(code)


def code_of(name: str) -> int:
    """The code of a named error (for the ledger model, which raises them)."""
    for error in errors().values():
        if error.name == name:
            return error.code
    raise KeyError(f"the IDL has no error named {name!r}")


def describe(code: int) -> str:
    """A one-line explanation for users and logs, e.g. `openSlotOutOfWindow (2003): ...`."""
    error = lookup(code)
    if error is None:
        return f"custom program error {code} (not one of the channel program's codes)"
    return f"{error.name} ({code}): {error.message}"
