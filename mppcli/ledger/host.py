"""What a program modelled in Python may do while it runs one instruction.

The host plays the runtime's part: it lets the model read accounts, write the data of accounts it
owns, move lamports out of them, and invoke real programs in LiteSVM ("CPI") — with the runtime's
privilege rules: an invoked instruction may only sign with the outer signers or with the model's
own PDAs, and may only write accounts the outer instruction made writable.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from solders.account import Account
from solders.instruction import Instruction
from solders.pubkey import Pubkey

from mppcli.ledger.clock import ChainTime
from mppcli.ledger.errors import TxErr
from mppcli.ledger.svm import Svm

_INVOKE_DEPTH = re.compile(r"^(Program \S+ invoke \[)(\d+)(\])$")


class ProgramFailure(Exception):
    """The modelled program returned an error; `error` is the InstructionError JSON form."""

    def __init__(self, error: TxErr, message: str = "") -> None:
        super().__init__(message or str(error))
        self.error = error
        self.message = message


class CustomError(ProgramFailure):
    """A program's own error code (`Custom(code)`)."""

    def __init__(self, code: int, message: str = "") -> None:
        super().__init__({"Custom": code}, message)
        self.code = code


@dataclass
class InstructionHost:
    """The runtime as seen by one modelled instruction."""

    svm: Svm
    program_id: Pubkey
    instruction: Instruction
    index: int
    transaction: Sequence[Instruction]
    time: ChainTime
    logs: list[str] = field(default_factory=list)
    units: int = 0

    # --- reading -------------------------------------------------------------------------------
    def account(self, key: Pubkey) -> Account | None:
        return self.svm.account(key)

    def is_signer(self, key: Pubkey) -> bool:
        return any(m.pubkey == key and m.is_signer for m in self.instruction.accounts)

    def is_writable(self, key: Pubkey) -> bool:
        return any(m.pubkey == key and m.is_writable for m in self.instruction.accounts)

    def rent_exempt(self, size: int) -> int:
        return self.svm.rent_exempt(size)

    # --- writing -------------------------------------------------------------------------------
    def write_data(self, key: Pubkey, data: bytes) -> None:
        """Overwrite the data of an account this program owns (same length)."""
        account = self._owned_writable(key)
        if len(data) != len(account.data):
            raise ProgramFailure("AccountDataTooSmall", f"data length change on {key}")
        self.svm.put(key, Account(account.lamports, data, account.owner, account.executable,
                                  account.rent_epoch))

    def close_account(self, key: Pubkey, destination: Pubkey) -> int:
        """Deallocate an account this program owns; every lamport goes to `destination`."""
        account = self._owned_writable(key)
        if not self.is_writable(destination):
            raise ProgramFailure("InvalidArgument", f"{destination} is not writable")
        target = self.svm.account(destination) or Account(0, b"", Pubkey.default(), False, 0)
        credited = Account(target.lamports + account.lamports, bytes(target.data), target.owner,
                           target.executable, target.rent_epoch)
        self.svm.put(destination, credited)
        self.svm.put(key, None)
        return account.lamports

    def invoke(self, instruction: Instruction, pda_signers: Sequence[Pubkey] = ()) -> None:
        """Run a real instruction in LiteSVM as a cross-program invocation of this program."""
        self._check_privileges(instruction, set(pda_signers))
        result = self.svm.run(instruction)
        self.units += result.units
        self.logs += [_deeper(line) for line in result.logs]
        if result.err is not None:
            inner = result.err.get("InstructionError") if isinstance(result.err, dict) else None
            raise ProgramFailure(inner[1] if inner else result.err, "invoked instruction failed")

    def log(self, message: str) -> None:
        self.logs.append(f"Program log: {message}")

    # --- runtime rules -------------------------------------------------------------------------
    def _owned_writable(self, key: Pubkey) -> Account:
        account = self.svm.account(key)
        if account is None or account.owner != self.program_id:
            raise ProgramFailure("ExternalAccountDataModified", f"{key} is not owned by the program")
        if not self.is_writable(key):
            raise ProgramFailure("ReadonlyDataModified", f"{key} is not writable")
        return account

    def _check_privileges(self, instruction: Instruction, pdas: set[Pubkey]) -> None:
        for meta in instruction.accounts:
            if meta.is_signer and not (self.is_signer(meta.pubkey) or meta.pubkey in pdas):
                raise ProgramFailure("PrivilegeEscalation", f"{meta.pubkey} cannot sign here")
            if meta.is_writable and not self.is_writable(meta.pubkey):
                raise ProgramFailure("PrivilegeEscalation", f"{meta.pubkey} is not writable here")


def _deeper(line: str) -> str:
    match = _INVOKE_DEPTH.match(line)
    if not match:
        return line
    return f"{match.group(1)}{int(match.group(2)) + 1}{match.group(3)}"
