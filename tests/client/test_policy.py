"""The payer's policy: cluster, program, mint, expiry and mid-session terms."""

from __future__ import annotations

import pytest

from mppcli.client import policy as p
from mppcli.errors import NetworkMismatch, PolicyError, ProtocolViolation

PROGRAM = "CHNLxYvVA28MJP9PrFuDXccuoGXAx7jBacfLEkahyGsX"
USDC = "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v"
TOKEN = "TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA"
TOKEN22 = "TokenzQdBNbLqP5VEhdkAS6EPFLC1PHnBqCXEpPxuEb"
MAINNET_GENESIS = "5eykt4UsFv8P8NJdTREpY1vzqKqZKvdpKuc147dw2N9d"
DEVNET_GENESIS = "EtWTRABZaYq6iMfeYKouRu166VU2xqa1wcaWoxPkrZBG"

FACTS = {
    "mainnet": p.NetworkFacts("mainnet", PROGRAM, frozenset({MAINNET_GENESIS}),
                              {USDC: p.KnownMint("USDC", USDC, 6, TOKEN)}),
    "devnet": p.NetworkFacts("devnet", PROGRAM, frozenset({DEVNET_GENESIS})),
    "localnet": p.NetworkFacts("localnet", PROGRAM, frozenset()),
}


def terms(**over: object) -> p.OfferedTerms:
    base: dict[str, object] = dict(network="mainnet", channel_program=PROGRAM, currency=USDC,
                                   decimals=6, token_program=None, recipient="R" * 32)
    base.update(over)
    return p.OfferedTerms(**base)  # type: ignore[arg-type]


def test_network_must_match_the_rpcs_genesis() -> None:
    p.check_network(terms(), MAINNET_GENESIS, FACTS)
    with pytest.raises(NetworkMismatch, match="RPC is devnet") as caught:
        p.check_network(terms(), DEVNET_GENESIS, FACTS)
    assert caught.value.exit_code == 5
    with pytest.raises(NetworkMismatch, match="another cluster"):
        p.check_network(terms(), "Localgenesis1111", FACTS)


def test_localnet_accepts_any_private_cluster_but_never_a_public_one() -> None:
    p.check_network(terms(network="localnet"), "SomeLocalGenesis", FACTS)
    with pytest.raises(NetworkMismatch, match="RPC is mainnet"):
        p.check_network(terms(network="localnet"), MAINNET_GENESIS, FACTS)


def test_unknown_network_name_is_refused() -> None:
    with pytest.raises(NetworkMismatch, match="testnet"):
        p.check_network(terms(network="testnet"), MAINNET_GENESIS, FACTS)


def test_program_must_be_the_deployed_one() -> None:
    p.check_program(terms(), FACTS["mainnet"])
    with pytest.raises(PolicyError, match="not the payment-channels program") as caught:
        p.check_program(terms(channel_program="GuoKrzaBiZnW5DvJ3yZVE7xHqbcBvaX9SH6P6Cn9gNvc"),
                        FACTS["mainnet"])
    assert "unknown program" in caught.value.hint


def test_mint_known_allowed_or_refused() -> None:
    p.check_mint(terms(), FACTS["mainnet"])
    other = "So11111111111111111111111111111111111111112"
    with pytest.raises(PolicyError, match="not a known stablecoin") as caught:
        p.check_mint(terms(currency=other), FACTS["mainnet"])
    assert "--allow-mint" in caught.value.hint
    p.check_mint(terms(currency=other), FACTS["mainnet"], allowed=frozenset({other}))
    p.check_mint(terms(network="localnet", currency=other), FACTS["localnet"])


def test_known_mint_with_wrong_decimals_or_program_is_a_lie() -> None:
    with pytest.raises(ProtocolViolation, match="9 decimals"):
        p.check_mint(terms(decimals=9), FACTS["mainnet"])
    with pytest.raises(ProtocolViolation, match="token program"):
        p.check_mint(terms(token_program=TOKEN22), FACTS["mainnet"])


def _mint_data(decimals: int, initialized: bool = True) -> bytes:
    data = bytearray(82)
    data[44] = decimals
    data[45] = 1 if initialized else 0
    return bytes(data)


def test_mint_account_gives_the_token_program_and_checks_decimals() -> None:
    programs = frozenset({TOKEN, TOKEN22})
    assert p.check_mint_account(terms(), TOKEN22, _mint_data(6), programs) == TOKEN22
    with pytest.raises(ProtocolViolation, match="chain says 9"):
        p.check_mint_account(terms(), TOKEN, _mint_data(9), programs)
    with pytest.raises(PolicyError, match="does not exist"):
        p.check_mint_account(terms(), None, None, programs)
    with pytest.raises(PolicyError, match="not a token mint"):
        p.check_mint_account(terms(), "11111111111111111111111111111111", _mint_data(6), programs)
    with pytest.raises(PolicyError, match="not an initialized"):
        p.check_mint_account(terms(), TOKEN, _mint_data(6, initialized=False), programs)
    with pytest.raises(ProtocolViolation, match="owned by"):
        p.check_mint_account(terms(token_program=TOKEN22), TOKEN, _mint_data(6), programs)


def test_expired_challenge_is_refused() -> None:
    p.check_expires(1000.5, 1000.0)
    p.check_expires(None, 1000.0)
    with pytest.raises(ProtocolViolation, match="expired"):
        p.check_expires(1000.0, 1000.0)


def test_changing_terms_mid_session_is_a_protocol_violation() -> None:
    opened = p.SessionTerms("mainnet", PROGRAM, USDC, "R" * 32)
    p.check_same_terms(opened, terms())
    with pytest.raises(ProtocolViolation, match="currency"):
        p.check_same_terms(opened, terms(currency="So11111111111111111111111111111111111111112"))
    with pytest.raises(ProtocolViolation, match="channelProgram"):
        p.check_same_terms(opened, terms(channel_program="CQAyft83tN1w2bRofB5PZ79eVDU2xZUVo43LU1qL4zRg"))
