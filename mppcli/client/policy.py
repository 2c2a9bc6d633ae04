"""The payer's own rules, checked before any money moves: cluster, program, mint, expiry, terms.

Pure: callers pass what the RPC said (genesis hash, the mint account) and the time. Every refusal
says what the server offered, what this client expected, and what to do about it.

Why each check exists (spec draft-solana-session-00, "Method Details" and "Security
Considerations"): `network` must be the cluster the RPC really is (else a devnet challenge could
be paid with mainnet money, or the other way round); `channelProgram` "MUST be the program
explicitly deployed for the selected network" and "clients MUST verify this matches their expected
program ... before depositing"; the mint must be one the user knows (the program does not vet mint
authorities, so an unknown mint is an unknown risk); an expired challenge cannot be opened from.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from mppcli.errors import NetworkMismatch, PolicyError, ProtocolViolation

MINT_ACCOUNT_SIZE = 82
MINT_DECIMALS_OFFSET = 44
MINT_INITIALIZED_OFFSET = 45


@dataclass(frozen=True)
class KnownMint:
    symbol: str
    address: str
    decimals: int
    token_program: str


@dataclass(frozen=True)
class NetworkFacts:
    """What this client knows about one cluster (built from `chain.networks`)."""

    name: str
    channel_program: str
    genesis_hashes: frozenset[str]
    mints: Mapping[str, KnownMint] = field(default_factory=dict)  # by address

    def mint_symbol(self, address: str) -> str | None:
        known = self.mints.get(address)
        return known.symbol if known else None


@dataclass(frozen=True)
class OfferedTerms:
    """The parts of a session challenge the policy judges (strings as they came on the wire)."""

    network: str
    channel_program: str
    currency: str
    decimals: int | None
    token_program: str | None
    recipient: str


def check_network(terms: OfferedTerms, genesis_hash: str, facts: Mapping[str, NetworkFacts]) -> None:
    """The RPC must be the cluster the challenge names (localnet: any cluster that is not a public one)."""
    offered = facts.get(terms.network)
    if offered is None:
        raise NetworkMismatch(f"the server names network {terms.network!r}, which mpp does not know")
    actual = _cluster_of(genesis_hash, facts)
    if terms.network == "localnet":
        if actual is not None:
            raise NetworkMismatch(
                f"the server names localnet but the RPC is {actual} (genesis {genesis_hash})",
                hint="Point -u/--url at the server's localnet RPC.")
        return
    if actual != terms.network:
        raise NetworkMismatch(
            f"the server names {terms.network} but the RPC is {actual or 'another cluster'} "
            f"(genesis {genesis_hash})")


def _cluster_of(genesis_hash: str, facts: Mapping[str, NetworkFacts]) -> str | None:
    for name, net in facts.items():
        if genesis_hash in net.genesis_hashes:
            return name
    return None


def check_program(terms: OfferedTerms, facts: NetworkFacts) -> None:
    if terms.channel_program != facts.channel_program:
        raise PolicyError(
            f"the server's channelProgram {terms.channel_program} is not the payment-channels program "
            f"deployed on {facts.name} ({facts.channel_program})",
            hint="Do not pay this server: its deposit would go to an unknown program.")


def check_mint(terms: OfferedTerms, facts: NetworkFacts, allowed: frozenset[str] = frozenset()) -> None:
    """Public clusters: only known mints (or ones the user allowed), with their true decimals."""
    known = facts.mints.get(terms.currency)
    if known is not None:
        if terms.decimals is not None and terms.decimals != known.decimals:
            raise ProtocolViolation(
                f"the server says {known.symbol} has {terms.decimals} decimals; it has {known.decimals}")
        if terms.token_program is not None and terms.token_program != known.token_program:
            raise ProtocolViolation(
                f"the server names token program {terms.token_program} for {known.symbol}; "
                f"it is {known.token_program}")
        return
    if facts.name == "localnet" or terms.currency in allowed:
        return
    raise PolicyError(
        f"the server asks for mint {terms.currency}, which is not a known stablecoin on {facts.name}",
        hint="Allow it explicitly with --allow-mint MINT if you trust it.")


def check_mint_account(terms: OfferedTerms, owner: str | None, data: bytes | None,
                       token_programs: frozenset[str]) -> str:
    """The mint as the chain has it: owned by a token program, initialized, same decimals.

    Returns the token program (the spec: when the challenge omits `tokenProgram`, the client MUST
    determine it from on-chain state).
    """
    if owner is None or data is None:
        raise PolicyError(f"the mint {terms.currency} does not exist on this cluster")
    if owner not in token_programs:
        raise PolicyError(f"{terms.currency} is not a token mint (owner {owner})")
    if len(data) < MINT_ACCOUNT_SIZE or data[MINT_INITIALIZED_OFFSET] != 1:
        raise PolicyError(f"{terms.currency} is not an initialized mint")
    decimals = data[MINT_DECIMALS_OFFSET]
    if terms.decimals is not None and terms.decimals != decimals:
        raise ProtocolViolation(
            f"the server says the mint has {terms.decimals} decimals; the chain says {decimals}")
    if terms.token_program is not None and terms.token_program != owner:
        raise ProtocolViolation(
            f"the server names token program {terms.token_program}; the mint is owned by {owner}")
    return owner


def check_expires(expires_at: float | None, now: float) -> None:
    """No credential echoes a challenge that expired: open, voucher, top-up, close (a skewed clock
    shows up here too)."""
    if expires_at is not None and expires_at <= now:
        raise ProtocolViolation(
            "the server's challenge had already expired when it arrived; nothing was signed or sent for it",
            hint="Check this machine's clock; then retry.")


@dataclass(frozen=True)
class SessionTerms:
    """What a channel was opened under; a later challenge must not change any of it."""

    network: str
    channel_program: str
    mint: str
    recipient: str


def check_same_terms(opened: SessionTerms, offered: OfferedTerms) -> None:
    """Mid-session, a server that changes network, program, mint or payee breaks the protocol."""
    changes = [
        (name, before, after)
        for name, before, after in (
            ("network", opened.network, offered.network),
            ("channelProgram", opened.channel_program, offered.channel_program),
            ("currency (mint)", opened.mint, offered.currency),
            ("recipient", opened.recipient, offered.recipient),
        )
        if before != after
    ]
    if changes:
        said = "; ".join(f"{name} {before} -> {after}" for name, before, after in changes)
        raise ProtocolViolation(f"the server changed the session's terms mid-session: {said}")


def check_grace_period(offered: int | None, maximum: int) -> None:
    """A server that never cooperates holds the deposit for the grace period (spec, Forced Close):
    refuse one longer than the user allows before anything is signed."""
    if offered is not None and offered > maximum:
        raise PolicyError(
            f"the server asks for a forced-close grace period of {offered} s; max_grace_period "
            f"allows at most {maximum} s",
            hint="If you accept a deposit locked that long, raise it with MPP_MAX_GRACE_PERIOD=SECONDS "
                 "or `mpp config set max_grace_period SECONDS`.")
