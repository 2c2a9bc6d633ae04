"""Transaction fees as a real cluster charges them: 5000 lamports per signature (precompile
signatures included) plus the compute-budget priority fee."""

from __future__ import annotations

from collections.abc import Sequence

from solders.instruction import Instruction
from solders.pubkey import Pubkey

from mppcli.chain.compute_budget import MAX_UNIT_LIMIT, SET_UNIT_LIMIT, SET_UNIT_PRICE
from mppcli.chain.constants import COMPUTE_BUDGET_PROGRAM, ED25519_PROGRAM

LAMPORTS_PER_SIGNATURE = 5000
PRECOMPILES = frozenset({
    ED25519_PROGRAM,
    Pubkey.from_string("KeccakSecp256k11111111111111111111111111111"),
    Pubkey.from_string("Secp256r1SigVerify1111111111111111111111111"),
})
_DEFAULT_UNITS_PER_INSTRUCTION = 200_000
_MICRO = 1_000_000


def transaction_fee(num_signatures: int, instructions: Sequence[Instruction]) -> int:
    signatures = num_signatures + sum(ix.data[0] for ix in instructions
                                      if ix.program_id in PRECOMPILES and ix.data)
    return signatures * LAMPORTS_PER_SIGNATURE + priority_fee(instructions)


def priority_fee(instructions: Sequence[Instruction]) -> int:
    price, limit = 0, None
    for ix in instructions:
        if ix.program_id != COMPUTE_BUDGET_PROGRAM or not ix.data:
            continue
        if ix.data[0] == SET_UNIT_LIMIT and len(ix.data) >= 5:
            limit = int.from_bytes(ix.data[1:5], "little")
        elif ix.data[0] == SET_UNIT_PRICE and len(ix.data) >= 9:
            price = int.from_bytes(ix.data[1:9], "little")
    if limit is None:
        others = sum(1 for ix in instructions if ix.program_id != COMPUTE_BUDGET_PROGRAM)
        limit = others * _DEFAULT_UNITS_PER_INSTRUCTION
    limit = min(limit, MAX_UNIT_LIMIT)
    return -(-price * limit // _MICRO)
