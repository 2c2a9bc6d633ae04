"""Reference-kit voucher driver: sign and verify session vouchers with solana-pay-kit 0.10.0.

Run with the reference venv's python; one JSON object in, one JSON object out:

  {"op": "sign", "secretKey": "<base58 64-byte keypair>", "channelId": "<b58>",
   "cumulativeAmount": "650", "expiresAt": 4102444800}
      -> {"ok": true, "signedVoucher": {...}, "messageHex": "..."}
     (expiresAt omitted: the reference client's default expiry)

  {"op": "verify", "signedVoucher": {...}, "authorizedSigner"?: "<b58>",
   "channel"?: {"deposit": "1000", "cumulative": "0", "minVoucherDelta": "0", "now": 1700000000}}
      -> {"ok": true, "valid": bool, "reason": str | null, "channelCheck"?: {...}}
     `valid` is the reference's signature + expiry check against `authorizedSigner`
     (default: the voucher's own `signer`); `channelCheck` runs the server's full voucher
     verdict against a channel snapshot built from `channel`.
"""

from __future__ import annotations

from typing import Any

from _refkit import U64_MAX, keypair, run_ops


def sign(request: dict[str, Any]) -> dict[str, Any]:
    from solana_pay_kit.protocols.mpp.client.session import ActiveSession
    from solders.pubkey import Pubkey

    channel = Pubkey.from_string(request["channelId"])
    session = ActiveSession(channel, keypair(request["secretKey"]))
    if request.get("expiresAt") is not None:
        session.set_expires_at(int(request["expiresAt"]))
    signed = session.prepare_voucher(int(request["cumulativeAmount"]))
    return {"signedVoucher": signed.to_dict(), "messageHex": signed.data.message_bytes().hex()}


def verify(request: dict[str, Any]) -> dict[str, Any]:
    from solana_pay_kit.protocols.mpp.intents.session import SignedVoucher
    from solana_pay_kit.protocols.mpp.server.session_voucher import verify_session_voucher

    try:
        signed = SignedVoucher.from_dict(request["signedVoucher"])
    except (ValueError, TypeError, AttributeError, KeyError) as exc:
        return {"valid": False, "reason": f"malformed signed voucher: {exc}"}
    signer = request.get("authorizedSigner") or signed.signer
    reason = verify_session_voucher(signed, signer)
    answer: dict[str, Any] = {"valid": reason is None, "reason": reason}
    if request.get("channel") is not None:
        answer["channelCheck"] = _channel_check(signed, signer, request["channel"])
    return answer


def _channel_check(signed: Any, signer: str, channel: dict[str, Any]) -> dict[str, Any]:
    from solana_pay_kit.protocols.mpp.server.session_voucher import (
        ChannelState,
        VerifyVoucherArgs,
        verify_voucher_for_channel,
    )

    state = ChannelState(channel_id=signed.data.channel_id, authorized_signer=signer,
                         deposit=int(channel.get("deposit", U64_MAX)),
                         cumulative=int(channel.get("cumulative", 0)))
    verdict = verify_voucher_for_channel(VerifyVoucherArgs(
        state=state, signed=signed, deposit=state.deposit,
        min_voucher_delta=int(channel.get("minVoucherDelta", 0)),
        now_seconds=channel.get("now")))
    return {"status": str(verdict.status), "reason": verdict.reason and str(verdict.reason),
            "detail": verdict.detail, "newCumulative": str(verdict.new_cumulative)}


if __name__ == "__main__":
    run_ops({"sign": sign, "verify": verify})
