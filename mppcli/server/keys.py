"""A stored channel as the chain builders address it."""

from __future__ import annotations

from solders.pubkey import Pubkey

from mppcli.chain.params import ChannelKeys
from mppcli.chain.splits import Split
from mppcli.server.context import ServerContext
from mppcli.server.state import ChannelState


def channel_keys(ctx: ServerContext, state: ChannelState) -> ChannelKeys:
    """The `ChannelKeys` of a stored channel (under this server's channel program)."""
    return ChannelKeys(
        channel=Pubkey.from_string(state.channel_id),
        payer=Pubkey.from_string(state.payer),
        payee=Pubkey.from_string(state.payee),
        mint=Pubkey.from_string(state.mint),
        authorized_signer=Pubkey.from_string(state.authorized_signer),
        rent_payer=Pubkey.from_string(state.rent_payer),
        token_program=Pubkey.from_string(state.token_program),
        splits=tuple(Split(Pubkey.from_string(r), bps) for r, bps in state.splits),
        program_id=Pubkey.from_string(ctx.config.program_id),
    )
