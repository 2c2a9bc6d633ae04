"""The voucher checks of the spec (Voucher Verification, steps 1-9), shared by every path that
accepts a client-signed voucher: the `voucher` action, metered-delivery commits and `close`.

Channel binding and signer are checked before the signature (spec: Denial of Service). The debit
path then verifies the signature and expiry *before* the idempotency cache and the watermark rules
(a replay must be the same, authenticated credential; see `server.debit`), commits verify after
the cheap rules. The on-chain checks (6, 7) are `ServerContext.confirm_live`; persistence (10) is
the caller's, in the same transaction as the debit.
"""

from __future__ import annotations

from mppcli.errors import MalformedError
from mppcli.protocol.voucher import SignedVoucher, parse_signed_voucher, verify_signed_voucher
from mppcli.server import problems
from mppcli.server.state import ChannelState


def check_binding(state: ChannelState, signed: SignedVoucher) -> None:
    """Steps 3-4: the voucher names this channel and is signed by its authorized signer."""
    if signed.voucher.channel_id != state.channel_id:
        raise problems.failed(
            f"the voucher is for channel {signed.voucher.channel_id}, not {state.channel_id}",
            state.channel_id,
        )
    if signed.signer != state.authorized_signer:
        raise problems.failed(
            f"the voucher signer {signed.signer} is not the channel's authorized signer "
            f"{state.authorized_signer}",
            state.channel_id,
        )


def check_advance(state: ChannelState, cumulative: int, pending: int, min_delta: int | None) -> None:
    """Steps 5 and 8: strictly above the accepted watermark, within the deposit (less reservations)."""
    if cumulative <= state.accepted:
        raise problems.not_above_watermark(
            f"cumulativeAmount {cumulative} does not exceed the accepted cumulative {state.accepted}",
            state.channel_id, state.accepted,
        )
    if cumulative + pending > state.deposit:
        reserved = f" ({pending} reserved for metered deliveries)" if pending else ""
        raise problems.over_capacity(
            f"cumulativeAmount {cumulative} exceeds the channel deposit {state.deposit}"
            f"{reserved}; top up the channel",
            state.channel_id, cumulative - state.accepted, max(0, state.deposit - pending - state.accepted),
        )
    if min_delta and cumulative - state.accepted < min_delta:
        raise problems.failed(
            f"the voucher adds {cumulative - state.accepted}, below minVoucherDelta {min_delta}",
            state.channel_id,
        )


def check_cost(state: ChannelState, cumulative: int, cost: int) -> None:
    """Step 5's last rule: the increment pays exactly this request (with any unspent balance).

    A metered stream charges `spent` before its vouchers arrive, so `spent` may exceed `accepted`
    by at most the stream credit window (the seller's risk): a request must still pay its own
    cost, and may also pay that unvouched amount, never more.
    """
    unvouched = max(0, state.spent - state.accepted)
    if cumulative - min(state.spent, state.accepted) < cost:
        raise problems.failed(
            f"the voucher authorizes {cumulative - min(state.spent, state.accepted)} beyond what "
            f"was spent; this request costs {cost}",
            state.channel_id,
        )
    if cumulative - state.accepted > cost + unvouched:
        raise problems.failed(
            f"the voucher adds {cumulative - state.accepted} but this request costs {cost}; "
            f"sign cumulativeAmount {max(state.accepted + cost, state.spent + cost)}",
            state.channel_id,
        )


def check_signature_and_expiry(state: ChannelState, signed: SignedVoucher, now: float, skew: int) -> None:
    """Steps 1-2 and 9: the 50-byte message verifies under the signer; not expired (with skew)."""
    expires = signed.voucher.expires_at or 0  # 0 is "no expiry"; a negative i64 is always past
    if expires < 0 or (expires and now >= expires + skew):
        raise problems.failed(f"the voucher expired at {expires}", state.channel_id)
    if not verify_signed_voucher(signed):
        raise problems.failed("the voucher signature does not verify", state.channel_id)


def is_same_voucher(state: ChannelState, signed: SignedVoucher) -> bool:
    """The stored highest voucher, identical in everything that is signed or verified: the 50-byte
    message (channel, cumulativeAmount, expiresAt), the signer and the signature.

    Only such a voucher may skip re-verification (what the reference client resends at close): a
    matching signature string alone proves nothing about the amount it is presented with.
    """
    stored = state.highest_voucher
    if stored is None:
        return False
    try:
        kept = parse_signed_voucher(stored)
    except MalformedError:
        return False
    return _signed_content(kept) == _signed_content(signed)


def _signed_content(signed: SignedVoucher) -> tuple[bytes, str, str]:
    return signed.message(), signed.signer, signed.signature
