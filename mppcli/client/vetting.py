"""Judging a session offer before any money moves: the policy checks fed with what the RPC says."""

from __future__ import annotations

from mppcli.client import chainio
from mppcli.client.challenge import Offer
from mppcli.client.context import Client, PayOptions
from mppcli.client.policy import (
    KnownMint,
    NetworkFacts,
    check_expires,
    check_mint,
    check_mint_account,
    check_network,
    check_program,
)


def network_facts() -> dict[str, NetworkFacts]:
    """`chain.networks` in the policy's plain terms."""
    from mppcli.chain.networks import NETWORKS

    facts = {}
    for name, net in NETWORKS.items():
        mints = {str(k.address): KnownMint(k.symbol, str(k.address), k.decimals, str(k.token_program))
                 for k in net.mints}
        facts[name] = NetworkFacts(name, str(net.channel_program), frozenset(net.genesis_hashes), mints)
    return facts


def token_programs() -> frozenset[str]:
    from mppcli.chain.constants import TOKEN_PROGRAMS

    return frozenset(str(p) for p in TOKEN_PROGRAMS)


async def vet_offer(client: Client, offer: Offer, options: PayOptions) -> str:
    """Every check of the payer's policy, expiry included (every credential echoes the challenge,
    not only an open's: `credentials.check_fresh` checks it again as each one leaves); returns the
    mint's token program (read from the chain)."""
    terms = offer.terms()
    client.use_network(terms.network)
    facts = network_facts()
    check_network(terms, await chainio.genesis_hash(client.rpc), facts)
    net = facts[terms.network]
    check_program(terms, net)
    check_mint(terms, net, options.allow_mints)
    check_expires(offer.expires_at, client.clock())
    owner, data = await chainio.mint_account(client.rpc, terms.currency)
    return check_mint_account(terms, owner, data, token_programs())
