"""The program table the ledger runs: the channel program model at its deployed address."""

from __future__ import annotations

from solders.pubkey import Pubkey

from mppcli.chain.constants import PROGRAM_ID
from mppcli.ledger.executor import ModelledProgram


def channel_program(program_id: Pubkey = PROGRAM_ID) -> dict[Pubkey, ModelledProgram]:
    """The program table the ledger executes: the channel program at its deployed address."""
    from mppcli.ledger.program.dispatch import process

    return {program_id: process}
