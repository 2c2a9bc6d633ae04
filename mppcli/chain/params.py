"""Typed inputs of the builders: the open parameters and the keys that identify a live channel."""

from __future__ import annotations

from dataclasses import dataclass

from solders.pubkey import Pubkey

from mppcli.chain.constants import PROGRAM_ID, TOKEN_PROGRAM
from mppcli.chain.pda import associated_token_address, find_channel_address
from mppcli.chain.splits import Split


@dataclass(frozen=True)
class ChannelKeys:
    """Everything the post-open instructions need to address one channel and its token accounts."""

    channel: Pubkey
    payer: Pubkey
    payee: Pubkey
    mint: Pubkey
    authorized_signer: Pubkey
    rent_payer: Pubkey
    token_program: Pubkey = TOKEN_PROGRAM
    splits: tuple[Split, ...] = ()
    program_id: Pubkey = PROGRAM_ID

    def token_account(self, owner: Pubkey) -> Pubkey:
        return associated_token_address(owner, self.mint, self.token_program)

    @property
    def escrow(self) -> Pubkey:
        return self.token_account(self.channel)


@dataclass(frozen=True)
class OpenParams:
    """The arguments and accounts of one `open` (rent payer = the transaction's fee payer)."""

    payer: Pubkey
    payee: Pubkey
    mint: Pubkey
    authorized_signer: Pubkey
    salt: int
    deposit: int
    grace_period: int
    open_slot: int
    rent_payer: Pubkey
    token_program: Pubkey = TOKEN_PROGRAM
    splits: tuple[Split, ...] = ()
    program_id: Pubkey = PROGRAM_ID

    def channel_address(self) -> tuple[Pubkey, int]:
        """The channel PDA these parameters derive, with its bump."""
        return find_channel_address(self.payer, self.payee, self.mint, self.authorized_signer,
                                    self.salt, self.open_slot, self.program_id)

    @property
    def channel(self) -> Pubkey:
        return self.channel_address()[0]

    def keys(self) -> ChannelKeys:
        """The identity of the channel this open creates."""
        return ChannelKeys(self.channel, self.payer, self.payee, self.mint, self.authorized_signer,
                           self.rent_payer, self.token_program, self.splits, self.program_id)
