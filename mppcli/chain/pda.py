"""Program-derived addresses: the channel, its escrow, the event authority and the treasury ATA.

Seeds come from the IDL's `pdas`. The channel's seeds are "channel", payer, payee, mint,
authorizedSigner, salt (u64 LE) and openSlot (u64 LE): `openSlot` makes every incarnation of a
channel live at a new address. Example:

    channel, bump = find_channel_address(payer, payee, mint, signer, salt=42, open_slot=352114093)
"""

from __future__ import annotations

from collections.abc import Mapping

from solders.pubkey import Pubkey

from mppcli.chain.constants import PROGRAM_ID, TOKEN_PROGRAM, TOKEN_PROGRAMS, TREASURY_OWNER
from mppcli.chain.idl import load_idl
from mppcli.errors import MalformedError

U64_MAX = (1 << 64) - 1


def find_pda(name: str, values: Mapping[str, Pubkey | int], program_id: Pubkey = PROGRAM_ID
             ) -> tuple[Pubkey, int]:
    """The canonical address and bump of the IDL's PDA `name`, seeds taken from `values`."""
    idl = load_idl()
    pda = idl.pdas[name]
    owner = Pubkey.from_string(idl.addresses[pda.program]) if pda.program else program_id
    return Pubkey.find_program_address([_seed(s.kind, s.value, values) for s in pda.seeds], owner)


def _seed(kind: str, value: str, values: Mapping[str, Pubkey | int]) -> bytes:
    if kind == "utf8":
        return value.encode()
    if value not in values:
        raise MalformedError(f"seed {value} is required")
    given = values[value]
    if kind == "pubkey":
        if not isinstance(given, Pubkey):
            raise MalformedError(f"seed {value} must be a public key")
        return bytes(given)
    if isinstance(given, bool) or not isinstance(given, int) or not 0 <= given <= U64_MAX:
        raise MalformedError(f"seed {value} must be a u64")
    return given.to_bytes(8, "little")


def find_channel_address(payer: Pubkey, payee: Pubkey, mint: Pubkey, authorized_signer: Pubkey,
                         salt: int, open_slot: int, program_id: Pubkey = PROGRAM_ID
                         ) -> tuple[Pubkey, int]:
    """The channel PDA and its canonical bump."""
    values: dict[str, Pubkey | int] = {"payer": payer, "payee": payee, "mint": mint,
                                       "authorizedSigner": authorized_signer, "salt": salt,
                                       "openSlot": open_slot}
    return find_pda("channel", values, program_id)


def associated_token_address(owner: Pubkey, mint: Pubkey, token_program: Pubkey = TOKEN_PROGRAM) -> Pubkey:
    """The canonical associated token account of `owner` for `mint` under `token_program`."""
    values: dict[str, Pubkey | int] = {"owner": owner, "mint": mint, "tokenProgram": token_program}
    return find_pda("associatedToken", values)[0]


def require_token_program(token_program: Pubkey) -> Pubkey:
    """The program accepts only SPL Token and Token-2022."""
    if token_program not in TOKEN_PROGRAMS:
        raise MalformedError(f"tokenProgram {token_program} is neither SPL Token nor Token-2022")
    return token_program


def escrow_address(channel: Pubkey, mint: Pubkey, token_program: Pubkey) -> Pubkey:
    """The channel's escrow: its associated token account for the mint."""
    return associated_token_address(channel, mint, require_token_program(token_program))


def event_authority(program_id: Pubkey = PROGRAM_ID) -> Pubkey:
    """The PDA the program signs its self-CPI events with (75c2hu... for CHNLx)."""
    return find_pda("eventAuthority", {}, program_id)[0]


def treasury_token_account(mint: Pubkey, token_program: Pubkey = TOKEN_PROGRAM,
                           owner: Pubkey = TREASURY_OWNER) -> Pubkey:
    """Where `distribute` sweeps dust and redirected payouts."""
    return associated_token_address(owner, mint, token_program)
