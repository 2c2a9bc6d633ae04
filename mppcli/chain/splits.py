"""Distribution splits: the canonical preimage, its SHA-256, and the payout arithmetic.

The preimage is `count (u32 LE) || (recipient 32 || shareBps u16 LE) x count` (the spec's
"Distribution Splits" section; the same bytes as the `recipients` argument of `open` and
`distribute`). The payee is never listed: it receives the implicit remainder `10000 - sum(bps)`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

from solders.pubkey import Pubkey

from mppcli.chain import borsh
from mppcli.chain.constants import BPS_DENOMINATOR, MAX_RECIPIENTS
from mppcli.chain.idl import Named, Vec, load_idl
from mppcli.errors import MalformedError

_PREIMAGE_TYPE = Vec(Named("distributionEntry"))


@dataclass(frozen=True)
class Split:
    """One co-recipient and its share of the merchant-side pool, in basis points."""

    recipient: Pubkey
    bps: int

    def to_entry(self) -> dict[str, object]:
        """The IDL's `distributionEntry` value."""
        return {"recipient": self.recipient, "bps": self.bps}


@dataclass(frozen=True)
class Distribution:
    """What one `distribute` pays: per recipient (split order), the payee, and the change in dust.

    `dust` is the newly settled pool minus what is paid: the flooring residue this call leaves in
    escrow. It is negative when the call pays out residue an earlier distribution left behind.
    """

    recipients: tuple[int, ...]
    payee: int
    dust: int


class SplitRejected(MalformedError):
    """Splits the program refuses; `error` names the program error it returns (`invalidSplitConfig`)."""

    def __init__(self, error: str, message: str) -> None:
        super().__init__(message)
        self.error = error


def validate_splits(splits: Sequence[Split], channel: Pubkey | None = None) -> None:
    """The rules the program enforces, in its order, raising `SplitRejected` with its error name.

    While loading the instruction: at most 32 entries (`invalidRecipientCount`), no 0 bps share
    (`invalidSplitConfig`), no recipient twice (`duplicateRecipient`), a sum <= 10000 bps
    (`invalidSplitConfig`); then, in `open` once the channel address is known, the channel itself
    may not be a recipient (`invalidSplitConfig`). The ledger's model runs these same checks.
    """
    if len(splits) > MAX_RECIPIENTS:
        raise SplitRejected("invalidRecipientCount", f"distributionSplits has {len(splits)} entries; "
                            f"at most {MAX_RECIPIENTS} are allowed")
    seen: set[Pubkey] = set()
    for i, split in enumerate(splits):
        if isinstance(split.bps, bool) or not isinstance(split.bps, int) or split.bps < 1:
            raise SplitRejected("invalidSplitConfig", _share_range(i))
        if split.recipient in seen:
            raise SplitRejected("duplicateRecipient",
                                f"distributionSplits[{i}].recipient {split.recipient} is listed twice")
        seen.add(split.recipient)
    _check_total(splits)
    mine = [i for i, split in enumerate(splits) if split.recipient == channel]
    if mine:
        raise SplitRejected("invalidSplitConfig",
                            f"distributionSplits[{mine[0]}].recipient is the channel itself")


def _share_range(index: int) -> str:
    return f"distributionSplits[{index}].shareBps must be an integer from 1 to {BPS_DENOMINATOR}"


def _check_total(splits: Sequence[Split]) -> None:
    """One share above 10000 fails the program's sum check too; named per entry for a clearer message."""
    for i, split in enumerate(splits):
        if split.bps > BPS_DENOMINATOR:
            raise SplitRejected("invalidSplitConfig", _share_range(i))
    total = sum(s.bps for s in splits)
    if total > BPS_DENOMINATOR:
        raise SplitRejected("invalidSplitConfig", f"distributionSplits shares sum to {total} bps; "
                            f"at most {BPS_DENOMINATOR} are allowed")


def splits_preimage(splits: Sequence[Split]) -> bytes:
    """The canonical bytes hashed at `open` and re-hashed at `distribute` (not validated here)."""
    return borsh.encode(load_idl(), _PREIMAGE_TYPE, [s.to_entry() for s in splits], "distributionSplits")


def splits_hash(splits: Sequence[Split]) -> bytes:
    """SHA-256 of the preimage: the `distributionHash` stored in the channel."""
    return hashlib.sha256(splits_preimage(splits)).digest()


def parse_splits_preimage(data: bytes) -> tuple[Split, ...]:
    """The splits a preimage encodes; trailing bytes are an error."""
    entries, end = borsh.decode(load_idl(), _PREIMAGE_TYPE, data, 0, "distributionSplits")
    if end != len(data):
        raise MalformedError(f"distributionSplits preimage has {len(data) - end} trailing bytes")
    return tuple(Split(e["recipient"], e["bps"]) for e in entries)


def payee_share_bps(splits: Sequence[Split]) -> int:
    """The payee's implicit remainder share."""
    return BPS_DENOMINATOR - sum(s.bps for s in splits)


def _entitlement(amount: int, bps: int) -> int:
    return amount * bps // BPS_DENOMINATOR


def distribution(settled: int, splits: Sequence[Split], payout_watermark: int = 0) -> Distribution:
    """The payouts of a `distribute` that moves the watermark from `payout_watermark` to `settled`.

    Each beneficiary gets `floor(settled*bps/10000) - floor(watermark*bps/10000)`; flooring
    leaves dust in escrow (a later distribution may still pay it as entitlements cross whole
    units; the sealed distribution sweeps `residual_dust(settled)` to the treasury).
    """
    if not 0 <= payout_watermark <= settled:
        raise MalformedError("payout watermark must be between 0 and the settled amount")
    shares = [s.bps for s in splits]
    recipients = tuple(_entitlement(settled, b) - _entitlement(payout_watermark, b) for b in shares)
    remainder = payee_share_bps(splits)
    payee = _entitlement(settled, remainder) - _entitlement(payout_watermark, remainder)
    return Distribution(recipients, payee, settled - payout_watermark - sum(recipients) - payee)


def residual_dust(settled: int, splits: Sequence[Split]) -> int:
    """Dust that no distribution of `settled` can pay: what the sealed `distribute` sweeps."""
    return distribution(settled, splits).dust
