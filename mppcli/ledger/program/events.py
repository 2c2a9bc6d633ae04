"""Events: the program's self-CPI to `emitEvent`, signed by its event-authority PDA."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from solders.pubkey import Pubkey

from mppcli.chain.events import encode_event
from mppcli.chain.pda import event_authority
from mppcli.ledger.host import InstructionHost
from mppcli.ledger.program.failures import fail, runtime

EVENT_UNITS = 1_000


def emit(host: InstructionHost, authority: Pubkey, self_program: Pubkey, name: str,
         values: Mapping[str, Any]) -> None:
    """Check the accounts the self-CPI needs, then record the event as the runtime would log it."""
    if authority != event_authority(host.program_id):
        raise fail("invalidEventAuthority")
    if self_program != host.program_id:
        raise runtime("MissingAccount", "selfProgram must be the channel program")
    encode_event(name, values)  # the bytes the self-CPI would carry; encoding checks the values
    host.logs += [f"Program {host.program_id} invoke [2]",
                  f"Program {host.program_id} consumed {EVENT_UNITS} of {EVENT_UNITS} compute units",
                  f"Program {host.program_id} success"]
    host.units += EVENT_UNITS
