"""Program ids, sysvars and protocol limits, as solders values (every value comes from the IDL)."""

from __future__ import annotations

from typing import Final

from solders.pubkey import Pubkey

from mppcli.chain.idl import load_idl

_IDL = load_idl()


def _address(name: str) -> Pubkey:
    return Pubkey.from_string(_IDL.addresses[name])


PROGRAM_ID: Final = Pubkey.from_string(_IDL.program_id)
RETIRED_PROGRAM_IDS: Final = frozenset(Pubkey.from_string(p) for p in _IDL.retired_program_ids)

SYSTEM_PROGRAM: Final = _address("systemProgram")
RENT_SYSVAR: Final = _address("rentSysvar")
INSTRUCTIONS_SYSVAR: Final = _address("instructionsSysvar")
ASSOCIATED_TOKEN_PROGRAM: Final = _address("associatedTokenProgram")
TOKEN_PROGRAM: Final = _address("tokenProgram")
TOKEN_2022_PROGRAM: Final = _address("token2022Program")
TOKEN_PROGRAMS: Final = frozenset({TOKEN_PROGRAM, TOKEN_2022_PROGRAM})
ED25519_PROGRAM: Final = _address("ed25519Program")
COMPUTE_BUDGET_PROGRAM: Final = _address("computeBudgetProgram")

# The deployed (mainnet) build's treasury owner; every client and server derives the treasury ATA
# from it. A self-built localnet binary uses the 0xBEEF x 16 placeholder instead.
TREASURY_OWNER: Final = _address("treasuryOwner")
TREASURY_OWNER_LOCAL_BUILD: Final = _address("treasuryOwnerLocalBuild")

OPEN_SLOT_WINDOW: Final = int(_IDL.constants["openSlotWindow"])
MAX_RECIPIENTS: Final = int(_IDL.constants["maxRecipients"])
BPS_DENOMINATOR: Final = int(_IDL.constants["bpsDenominator"])
CHANNEL_ACCOUNT_SIZE: Final = int(_IDL.constants["channelAccountSize"])
VOUCHER_MAGIC: Final = _IDL.voucher_magic
VOUCHER_MESSAGE_LENGTH: Final = _IDL.voucher_length
