"""The modelled program's entrypoint: decode the instruction as the deployed program does, then
run its handler.

Order of failures follows the program: instruction data first (unknown discriminator or bad
arguments -> InvalidInstructionData; a split preimage's own rules -> 260/261/263), then the
account list (missing or extra accounts -> NotEnoughAccountKeys; some handlers return the
built-in error, others the program's code 9, exactly as the deployed build does).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from solders.pubkey import Pubkey

from mppcli.chain.idl import load_idl
from mppcli.chain.instructions import DecodedInstruction, decode_instruction
from mppcli.chain.splits import Split
from mppcli.errors import MalformedError
from mppcli.ledger.host import InstructionHost
from mppcli.ledger.program import close, distribute, lifecycle, open_channel, settle
from mppcli.ledger.program.failures import check_splits, fail, runtime

Handler = Callable[[InstructionHost, DecodedInstruction], None]

HANDLERS: dict[str, Handler] = {
    "open": open_channel.process,
    "settle": settle.settle,
    "topUp": lifecycle.top_up,
    "settleAndSeal": settle.settle_and_seal,
    "requestClose": lifecycle.request_close,
    "seal": lifecycle.seal,
    "distribute": distribute.process,
    "withdrawPayer": close.withdraw_payer,
    "reclaim": close.reclaim,
    "emitEvent": lifecycle.emit_event,
}
# Handlers whose account destructuring fails with the built-in error rather than code 9.
_BUILTIN_ACCOUNT_ERROR = frozenset({"open", "settle", "seal", "distribute", "reclaim"})


def process(host: InstructionHost) -> None:
    """Run one channel-program instruction against the ledger."""
    data = bytes(host.instruction.data)
    spec = load_idl().instruction_by_discriminator(data[0]) if data else None
    if spec is None:
        raise runtime("InvalidInstructionData", "unknown instruction")
    keys = [meta.pubkey for meta in host.instruction.accounts]
    fixed = len(spec.accounts)
    decoded = _decode(host.program_id, data, _padded(keys, fixed, spec.remaining is not None))
    entries = decoded.fields().get("recipients")
    if entries is not None:
        check_splits([Split(entry["recipient"], entry["bps"]) for entry in entries])
    if len(keys) < fixed or (spec.remaining is None and len(keys) != fixed):
        if spec.name in _BUILTIN_ACCOUNT_ERROR:
            raise runtime("NotEnoughAccountKeys", f"{spec.name} takes {fixed} accounts, got {len(keys)}")
        raise fail("notEnoughAccountKeys", f"{spec.name} takes {fixed} accounts, got {len(keys)}")
    host.log(f"Instruction: {spec.name[0].upper()}{spec.name[1:]}")
    HANDLERS[spec.name](host, _decode(host.program_id, data, keys))


def _padded(keys: Sequence[Pubkey], fixed: int, has_tail: bool) -> list[Pubkey]:
    if len(keys) >= fixed and has_tail:
        return list(keys)
    return list(keys[:fixed]) + [Pubkey.default()] * max(0, fixed - len(keys))


def _decode(program_id: Pubkey, data: bytes, keys: Sequence[Pubkey]) -> DecodedInstruction:
    try:
        return decode_instruction(program_id, data, keys)
    except MalformedError as exc:
        raise runtime("InvalidInstructionData", str(exc)) from None
