"""Loading and storing the `Channel` account, and the program's token-account checks.

The checks follow the deployed program: a mint must belong to the named token program (and a
Token-2022 mint may carry only metadata/group extensions); a token account is judged as "wrong
address", "malformed", "not initialized", "wrong owner" or "bad extension", and each instruction
maps those outcomes to its own error codes.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass

from solders.pubkey import Pubkey

from mppcli.chain.channel import ChannelAccount, ChannelStatus, decode_channel, encode_channel
from mppcli.chain.constants import CHANNEL_ACCOUNT_SIZE, TOKEN_2022_PROGRAM, TOKEN_PROGRAM
from mppcli.chain.idl import AccountLayout, load_idl
from mppcli.chain.pda import associated_token_address
from mppcli.errors import MalformedError
from mppcli.ledger import spl
from mppcli.ledger.host import InstructionHost
from mppcli.ledger.program.failures import fail, runtime

_MINT_EXTENSIONS = frozenset({18, 19, 20, 21, 22, 23})  # metadata / group pointers and data
_ACCOUNT_EXTENSIONS = frozenset({7})  # ImmutableOwner
_INITIALIZED = 1


def load_channel(host: InstructionHost, key: Pubkey) -> ChannelAccount:
    """The channel at `key`, with the program's header checks in its order."""
    account = host.account(key)
    if account is None or account.owner != host.program_id:
        raise runtime("InvalidAccountOwner", f"{key} is not a channel of this program")
    data, layout = bytes(account.data), channel_layout()
    if len(data) != CHANNEL_ACCOUNT_SIZE:
        raise runtime("InvalidAccountData", "the channel account has the wrong size")
    if data[0] != layout.discriminator:
        raise fail("invalidAccountDiscriminator")
    if data[1] != layout.version:
        raise fail("unsupportedChannelVersion")
    try:
        return decode_channel(data)
    except MalformedError as exc:
        raise fail("invalidChannelStatus", str(exc)) from None


def require_status(channel: ChannelAccount, wanted: ChannelStatus, instruction: str) -> None:
    """`invalidChannelStatus` unless the channel is in the one status `instruction` runs in."""
    if channel.status != wanted:
        raise fail("invalidChannelStatus",
                   f"{instruction} needs {wanted.name.lower()}, not {channel.status.name}")


def channel_layout() -> AccountLayout:
    """The IDL's `Channel` layout (discriminator, version, fields)."""
    return load_idl().accounts["channel"]


def store_channel(host: InstructionHost, key: Pubkey, channel: ChannelAccount) -> None:
    host.write_data(key, encode_channel(channel))


@dataclass(frozen=True)
class TokenContext:
    mint: Pubkey
    program: Pubkey
    decimals: int

    @property
    def is_2022(self) -> bool:
        return self.program == TOKEN_2022_PROGRAM

    def ata(self, owner: Pubkey) -> Pubkey:
        return associated_token_address(owner, self.mint, self.program)


def token_context(host: InstructionHost, mint: Pubkey, program: Pubkey) -> TokenContext:
    """Check the mint and its token program as the program does before moving any token."""
    if program not in (TOKEN_PROGRAM, TOKEN_2022_PROGRAM):
        raise fail("invalidMintTokenProgram")
    account = host.account(mint)
    data = bytes(account.data) if account else b""
    if account is None or account.owner != program or spl.parse_mint(program, data) is None:
        raise fail("mintAccountMismatch")
    if program == TOKEN_2022_PROGRAM and len(data) > spl.MINT_SIZE:
        if any(data[spl.MINT_SIZE:spl.ACCOUNT_TYPE_OFFSET]):
            raise fail("malformedMintTokenAccountData")
        kinds = spl.extension_types(data)
        if kinds is None or not set(kinds) <= _MINT_EXTENSIONS:
            raise fail("malformedMintTokenExtensions")
    return TokenContext(mint, program, data[44])


class AtaProblem(enum.Enum):
    """Why a token account is not usable as `owner`'s canonical ATA."""

    ADDRESS = "address"
    MALFORMED = "malformed"
    NOT_INITIALIZED = "not initialized"
    OWNER = "owner"
    EXTENSION_MALFORMED = "extension malformed"
    EXTENSION_UNSUPPORTED = "extension unsupported"


def ata_problem(host: InstructionHost, key: Pubkey, owner: Pubkey, ctx: TokenContext,
                address_only: bool = False) -> AtaProblem | None:
    """None when `key` is `owner`'s initialized canonical ATA for the channel's mint."""
    if key != ctx.ata(owner):
        return AtaProblem.ADDRESS
    if address_only:
        return None
    account = host.account(key)
    parsed = spl.parse_token_account(ctx.program, bytes(account.data)) if account else None
    if account is None or account.owner != ctx.program or parsed is None:
        return AtaProblem.MALFORMED
    if parsed.state != _INITIALIZED:
        return AtaProblem.NOT_INITIALIZED
    if parsed.mint != ctx.mint or parsed.owner != owner:
        return AtaProblem.OWNER
    return _extension_problem(bytes(account.data), ctx)


def _extension_problem(data: bytes, ctx: TokenContext) -> AtaProblem | None:
    if not ctx.is_2022 or len(data) <= spl.ACCOUNT_SIZE:
        return None
    kinds = spl.extension_types(data)
    if kinds is None:
        return AtaProblem.EXTENSION_MALFORMED
    return None if set(kinds) <= _ACCOUNT_EXTENSIONS else AtaProblem.EXTENSION_UNSUPPORTED


def require_ata(host: InstructionHost, key: Pubkey, owner: Pubkey, ctx: TokenContext,
                codes: tuple[str, str, str]) -> None:
    """Fail with codes[0] (mismatch), codes[1] (malformed) or codes[2] (extensions)."""
    problem = ata_problem(host, key, owner, ctx)
    if problem in (AtaProblem.ADDRESS, AtaProblem.OWNER, AtaProblem.NOT_INITIALIZED):
        raise fail(codes[0], f"{key}: {problem.value}")
    if problem is AtaProblem.MALFORMED:
        raise fail(codes[1], f"{key}")
    if problem is not None:
        raise fail(codes[2], f"{key}: {problem.value}")


ESCROW_CODES = ("channelAccountMismatch", "invalidChannelTokenAccount", "invalidChannelTokenExtensions")
PAYER_CODES = ("payerAccountMismatch", "invalidPayerTokenAccount", "invalidPayerTokenExtensions")
PAYEE_CODES = ("payeeAccountMismatch", "invalidPayeeTokenAccount", "invalidPayeeTokenExtensions")
RECIPIENT_CODES = ("recipientAccountMismatch", "invalidRecipientTokenAccount",
                   "invalidRecipientTokenExtensions")
TREASURY_CODES = ("treasuryAccountMismatch", "invalidTreasuryTokenAccount", "invalidTreasuryTokenExtensions")


def token_amount(host: InstructionHost, key: Pubkey, ctx: TokenContext) -> int:
    account = host.account(key)
    parsed = spl.parse_token_account(ctx.program, bytes(account.data)) if account else None
    if parsed is None:
        raise fail("malformedMintTokenAccountData")
    return parsed.amount


def payer_token_accounts(host: InstructionHost, accounts: Mapping[str, Pubkey],
                         channel: ChannelAccount) -> TokenContext:
    """The mint, escrow and payer-ATA checks `topUp` and `withdrawPayer` share, in the program's order."""
    if accounts["mint"] != channel.mint:
        raise fail("invalidChannelMint")
    ctx = token_context(host, accounts["mint"], accounts["tokenProgram"])
    require_ata(host, accounts["channelTokenAccount"], accounts["channel"], ctx, ESCROW_CODES)
    require_ata(host, accounts["payerTokenAccount"], accounts["payer"], ctx, PAYER_CODES)
    return ctx
