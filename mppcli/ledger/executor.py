"""Running a transaction's instructions in order, all or nothing.

Instructions addressed to a modelled program (the channel program) go to its Python model;
everything else runs in LiteSVM. A `Journal` remembers every writable account before the first
instruction, so a failure anywhere puts them all back: a failed transaction leaves no trace.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from solders.account import Account
from solders.instruction import Instruction
from solders.pubkey import Pubkey

from mppcli.ledger.clock import ChainTime
from mppcli.ledger.errors import TransactionFailed, TxErr, describe_instruction_error, instruction_error
from mppcli.ledger.host import InstructionHost, ProgramFailure
from mppcli.ledger.svm import EngineResult, Svm

ModelledProgram = Callable[[InstructionHost], None]
MODEL_UNITS = 3_000
_UNIT_LIMIT = 200_000


class Journal:
    """The accounts as they were before a change began, to restore them on failure."""

    def __init__(self, svm: Svm, keys: Iterable[Pubkey] = ()) -> None:
        self._svm = svm
        self._saved: dict[Pubkey, Account | None] = {}
        self.remember(keys)

    def remember(self, keys: Iterable[Pubkey]) -> None:
        for key in keys:
            if key not in self._saved:
                self._saved[key] = self._svm.account(key)

    def restore(self) -> None:
        for key, account in self._saved.items():
            self._svm.put(key, account)

    def current(self) -> dict[Pubkey, Account | None]:
        """The present state of every remembered account (what to persist)."""
        return {key: self._svm.account(key) for key in self._saved}


@dataclass(frozen=True)
class Outcome:
    err: TxErr | None
    logs: list[str]
    units: int


def run_instructions(svm: Svm, instructions: tuple[Instruction, ...], keys: tuple[Pubkey, ...],
                     programs: Mapping[Pubkey, ModelledProgram], time: ChainTime) -> Outcome:
    """Execute every instruction; on the first failure restore all writable accounts."""
    journal = Journal(svm, keys)
    logs: list[str] = []
    units = 0
    for index, instruction in enumerate(instructions):
        model = programs.get(instruction.program_id)
        try:
            if model is None:
                units += _run_engine(svm, instruction, index, keys, logs)
            else:
                units += _run_model(svm, model, instruction, index, instructions, time, logs)
        except TransactionFailed as failure:
            journal.restore()
            return Outcome(failure.err, logs, units + failure.units)
    return Outcome(None, logs, units)


def _run_engine(svm: Svm, instruction: Instruction, index: int, keys: tuple[Pubkey, ...],
                logs: list[str]) -> int:
    result = svm.run(instruction)
    logs += result.logs
    if result.err is not None:
        raise TransactionFailed(_reindex(result, index, keys), units=result.units)
    return result.units


def _reindex(result: EngineResult, index: int, keys: tuple[Pubkey, ...]) -> TxErr:
    """Express an engine error in terms of the submitted transaction (its instruction/account index)."""
    err = result.err
    if isinstance(err, dict) and "InstructionError" in err:
        return instruction_error(index, err["InstructionError"][1])
    if isinstance(err, dict) and "InsufficientFundsForRent" in err:
        engine_index = err["InsufficientFundsForRent"]["account_index"]
        account = result.keys[engine_index]
        return {"InsufficientFundsForRent": {"account_index": keys.index(account)}}
    return err


def _run_model(svm: Svm, model: ModelledProgram, instruction: Instruction, index: int,
               instructions: tuple[Instruction, ...], time: ChainTime, logs: list[str]) -> int:
    program = instruction.program_id
    host = InstructionHost(svm, program, instruction, index, instructions, time)
    logs.append(f"Program {program} invoke [1]")
    try:
        model(host)
    except ProgramFailure as failure:
        logs += host.logs
        if failure.message:
            logs.append(f"Program log: Error: {failure.message}")
        units = host.units + MODEL_UNITS
        logs.append(f"Program {program} consumed {units} of {_UNIT_LIMIT} compute units")
        logs.append(f"Program {program} failed: {describe_instruction_error(failure.error)}")
        raise TransactionFailed(instruction_error(index, failure.error), units=units) from None
    logs += host.logs
    units = host.units + MODEL_UNITS
    logs.append(f"Program {program} consumed {units} of {_UNIT_LIMIT} compute units")
    logs.append(f"Program {program} success")
    return units
