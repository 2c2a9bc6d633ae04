"""A live channel's terms, re-checked before it is metered again (spec: Resume; Voucher Verification).

A channel was checked field by field at open, but the server may since have been restarted with
other terms (another recipient, other splits, a mint dropped from the allow-list), and a resume
challenge names an idle timeout. Before every voucher, `use` and resume the stored channel must
still match the server's terms and the echoed challenge: mint still allow-listed, payee,
distribution splits, and for a resume the channel and its idle timeout. When the on-chain account
is at hand (a freshness read), `check_account_terms` also re-authenticates it against the stored
session: payee, mint, authorizedSigner, openSlot and distributionHash.

Cheap comparisons only: these run on the per-request hot path.
"""

from __future__ import annotations

from collections.abc import Iterable

from solders.pubkey import Pubkey

from mppcli.chain.channel import ChannelAccount
from mppcli.chain.splits import Split, splits_hash
from mppcli.server import problems
from mppcli.server.challenges import Echo
from mppcli.server.config import ServerConfig
from mppcli.server.state import ChannelState


def terms_mismatch(config: ServerConfig, state: ChannelState) -> str | None:
    """Why the stored channel no longer matches this server's terms, or None when it does."""
    if state.mint not in config.mint_allowed:
        return f"the channel's mint {state.mint} is no longer accepted by this server"
    if state.payee != config.recipient:
        return f"the channel pays {state.payee}, but this server's recipient is now {config.recipient}"
    if not _same_splits(state.splits, config.splits):
        return "the channel's distribution splits are not this server's current splits"
    return None


def check_session_terms(config: ServerConfig, state: ChannelState, echo: Echo) -> None:
    """Refuse metering a channel whose terms differ from the server's or from the echoed challenge."""
    problem = terms_mismatch(config, state)
    if problem is None and echo.request.recipient != state.payee:
        problem = f"the challenge pays {echo.request.recipient}, the channel pays {state.payee}"
    challenged = ((e.recipient, e.share_bps) for e in echo.details.splits)
    if problem is None and not _same_splits(state.splits, challenged):
        problem = "the challenge's distribution splits are not the channel's"
    if problem is None and echo.details.is_resume and echo.details.idle_timeout_seconds != state.idle_timeout:
        problem = (
            f"the challenge's idleTimeoutSeconds {echo.details.idle_timeout_seconds} is not the "
            f"channel's {state.idle_timeout}"
        )
    if problem is not None:
        raise problems.failed(f"{problem}; close this channel and open a new one", state.channel_id)


def check_account_terms(state: ChannelState, account: ChannelAccount) -> None:
    """The on-chain account is still the session that was opened (spec: Resume)."""
    expected = (
        ("payee", str(account.payee), state.payee),
        ("mint", str(account.mint), state.mint),
        ("authorizedSigner", str(account.authorized_signer), state.authorized_signer),
        ("openSlot", account.open_slot, state.open_slot),
        ("distributionHash", account.distribution_hash, _hash(state.splits)),
    )
    for name, on_chain, stored in expected:
        if on_chain != stored:
            raise problems.failed(
                f"the channel's {name} on chain ({on_chain!s:.64}) is not the one this server recorded "
                f"({stored!s:.64})",
                state.channel_id,
            )


def _same_splits(stored: tuple[tuple[str, int], ...], other: Iterable[tuple[str, int]]) -> bool:
    """The preimage is hashed in order, so equal hashes mean equal sequences."""
    return stored == tuple(other)


def _hash(splits: Iterable[tuple[str, int]]) -> bytes:
    return splits_hash(tuple(Split(Pubkey.from_string(r), bps) for r, bps in splits))
