"""What the payer asks the chain, through the one RPC port (`mppcli.rpc.Rpc`).

Only reads and broadcasts the payer itself needs: the cluster's genesis hash, a mint, a token
balance, a channel account (decoded with `chain.channel`), the payer's channels, and sending its
own forced-close transactions. Every failure is already an `RpcError` from `rpc.py`; a channel
account that is not owned by the program, or does not decode, is reported as absent-and-wrong.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from mppcli.client import machine as m
from mppcli.errors import MalformedError, RpcError

if TYPE_CHECKING:
    from solders.hash import Hash
    from solders.pubkey import Pubkey
    from solders.transaction import VersionedTransaction

    from mppcli.chain.channel import ChannelAccount
    from mppcli.rpc import Rpc

CONFIRM_TIMEOUT = 60.0
PAYER_OFFSET = 88  # Channel.payer (research/onchain.md; chain.channel's layout)


@dataclass(frozen=True)
class ChainChannel:
    """A channel account as the chain has it (or None fields when absent)."""

    account: ChannelAccount | None

    def event(self) -> m.Event:
        """The machine event this observation is."""
        from mppcli.chain.channel import ChannelStatus

        acc = self.account
        if acc is None:
            return m.ChainAbsent()
        if acc.status is ChannelStatus.OPEN:
            return m.ChainOpen(acc.deposit, acc.settled)
        if acc.status is ChannelStatus.CLOSING:
            return m.ChainClosing(acc.deposit, acc.settled, acc.closure_started_at + acc.grace_period)
        if acc.status is ChannelStatus.SEALED:
            return m.ChainSealed(acc.deposit, acc.settled)
        return m.ChainDistributed(acc.deposit, acc.settled)


def pubkey(text: str) -> Pubkey:
    from solders.pubkey import Pubkey

    return Pubkey.from_string(text)


async def genesis_hash(rpc: Rpc) -> str:
    return str(await rpc.genesis_hash())


async def read_channel(rpc: Rpc, channel: str, program: str) -> ChainChannel:
    """The channel account, or an absent one (never landed, or deallocated after close)."""
    from mppcli.chain.channel import decode_channel

    found = await rpc.account(pubkey(channel))
    if found is None:
        return ChainChannel(None)
    owner, _lamports, data = found
    if str(owner) != program:
        raise RpcError(f"account {channel} is owned by {owner}, not the channel program {program}")
    try:
        return ChainChannel(decode_channel(bytes(data)))
    except MalformedError as exc:
        raise RpcError(f"account {channel} is not a channel account: {exc}") from None


async def mint_account(rpc: Rpc, mint: str) -> tuple[str | None, bytes | None]:
    found = await rpc.account(pubkey(mint))
    if found is None:
        return None, None
    owner, _lamports, data = found
    return str(owner), bytes(data)


async def lamports(rpc: Rpc, owner: Pubkey) -> int:
    found = await rpc.account(owner)
    return 0 if found is None else int(found[1])


async def token_balance(rpc: Rpc, owner: Pubkey, mint: str, token_program: str) -> int:
    from mppcli.chain.pda import associated_token_address

    ata = associated_token_address(owner, pubkey(mint), pubkey(token_program))
    if await rpc.account(ata) is None:
        return 0
    return int(await rpc.token_balance(ata))


async def blockhash(rpc: Rpc) -> tuple[Hash, int]:
    found: tuple[Hash, int] = await rpc.latest_blockhash()
    return found


async def send(rpc: Rpc, tx: VersionedTransaction) -> str:
    """Broadcast our own transaction and wait until the cluster confirms it."""
    signature = await rpc.send_transaction(bytes(tx))
    await rpc.confirm(signature, CONFIRM_TIMEOUT)
    return str(signature)


async def payer_channel_ids(rpc: Rpc, payer: str, program: str) -> list[str]:
    """Every channel account whose payer is `payer` (getProgramAccounts on the payer offset)."""
    from mppcli.chain.constants import CHANNEL_ACCOUNT_SIZE

    found = await rpc.program_accounts(
        pubkey(program), [{"dataSize": CHANNEL_ACCOUNT_SIZE},
                          {"memcmp": {"offset": PAYER_OFFSET, "bytes": payer}}])
    return sorted(str(item[0]) for item in found)
