"""Reference-kit open/topUp driver: build and structurally verify channel funding transactions.

Run with the reference venv's python; one JSON object in, one JSON object out. `request` is
always the decoded session challenge request (the JSON inside the challenge's `request`).

  {"op": "build", "request": {...}, "payerSecret": "<b58>", "sessionSecret"?: "<b58>",
   "deposit"?: "1000", "salt"?: "42", "openSlot"?: "123", "idleTimeoutSeconds"?: 600,
   "challengeId"?: "<id>"}
      -> {"ok": true, "channelId", "payload" (the open action, "action": "open" included),
          "transaction", "authorizedSigner", "sessionSecret"}
     The reference client's opener builds everything; operator-mode requests also get the
     payer proof bound to `challengeId`.

  {"op": "verify", "request": {...}, "payload": {...open payload...}, "currentSlot"?: 123,
   "challengeId"?: "<id the operator-mode proof names>"}
      -> {"ok": true, "accepted": bool, "reason": str | null}
     Runs the reference server's open pipeline (SessionServer.process_open with the
     reference's own open verifier) over a server configured from `request`, and stops it
     at the broadcast: an RPC stand-in that refuses to send. Reaching the broadcast means
     every pre-broadcast check passed. `currentSlot` defaults to the request's recentSlot.

  {"op": "buildTopUp", "request": {...}, "payerSecret": "<b58>", "channelId": "<b58>",
   "amount": "500", "recentBlockhash": "<b58>"}
      -> {"ok": true, "payload" (the topUp action), "transaction"}
     The reference ships only the topUp instruction builder; this wraps it in a v0
     transaction paid and fully signed by the payer (what the reference server wants).

  {"op": "verifyTopUp", "request": {...}, "payload": {...topUp payload...},
   "channel": {"payer": "<b58>", "deposit": "1000"}}
      -> {"ok": true, "accepted": bool, "reason": str | null}
     The reference server's top-up pipeline for a stored channel, stopped at the broadcast.
"""

from __future__ import annotations

import asyncio
import base64
from typing import Any

from _refkit import keypair, reason_of, run_ops


class _Halt(Exception):
    """Raised by the RPC stand-in where the reference would broadcast."""


class _HaltingRpc:
    """Answers the reference's pre-broadcast RPC needs and refuses everything after."""

    async def send_raw_transaction(self, raw_tx: bytes) -> Any:
        raise _Halt("reached broadcast")

    async def get_signature_statuses(self, signatures: list[str]) -> list[Any]:
        return [None for _ in signatures]

    async def get_account_info(self, *args: Any, **kwargs: Any) -> Any:
        raise _Halt("reached post-broadcast account check")

    async def get_latest_blockhash(self, *args: Any, **kwargs: Any) -> Any:
        raise _Halt("no blockhash in a structural check")


class _NullFeePayer:
    """Stands in for the operator's fee-payer key: the co-sign happens, the send halts."""

    def __init__(self, pubkey: str) -> None:
        from solders.pubkey import Pubkey

        self._pubkey = Pubkey.from_string(pubkey)

    def pubkey(self) -> Any:
        return self._pubkey

    def sign_message(self, message: bytes) -> Any:
        from solders.signature import Signature

        return Signature.default()


def _parse_request(request: dict[str, Any]) -> Any:
    from solana_pay_kit.protocols.mpp.intents.session import SessionRequest

    return SessionRequest.from_dict(request)


def build(request: dict[str, Any]) -> dict[str, Any]:
    from solana_pay_kit.protocols.mpp.client.payment_channels import (
        PaymentChannelOpenOptions,
        PaymentChannelSessionOpenOptions,
        create_payment_channel_session_opener,
        derive_payment_channel_open,
        generate_authorized_signer,
        unique_salt,
    )
    from solana_pay_kit.protocols.mpp.intents.session import sign_session_authentication

    session_request = _parse_request(request["request"])
    payer = keypair(request["payerSecret"])
    session_key = (keypair(request["sessionSecret"]) if request.get("sessionSecret")
                   else generate_authorized_signer())
    salt = int(request["salt"]) if request.get("salt") is not None else unique_salt()
    open_options = PaymentChannelOpenOptions(
        deposit=int(request["deposit"]) if request.get("deposit") is not None else None,
        salt=salt,
        open_slot=int(request["openSlot"]) if request.get("openSlot") is not None else None)
    authentication = None
    if session_request.method_details.voucher_signer == "operator":
        from solders.pubkey import Pubkey

        operator = Pubkey.from_string(session_request.method_details.operator)
        derived = derive_payment_channel_open(session_request, payer.pubkey(), operator, open_options)
        authentication = sign_session_authentication(request["challengeId"], str(derived.channel_id), payer)
    opened = create_payment_channel_session_opener(
        session_request, payer, session_key,
        options=PaymentChannelSessionOpenOptions(open=open_options, authentication=authentication,
                                                 idle_timeout_seconds=request.get("idleTimeoutSeconds")))
    payload = opened.action.to_dict()
    return {"channelId": str(opened.open.channel_id), "payload": payload,
            "transaction": payload["transaction"], "authorizedSigner": str(opened.open.authorized_signer),
            "sessionSecret": str(session_key)}


def _server_config(session_request: Any) -> Any:
    from solana_pay_kit.protocols.mpp.server.session import SessionConfig, Split

    details = session_request.method_details
    return SessionConfig(
        operator=details.operator or "", recipient=session_request.recipient,
        amount=int(session_request.amount), currency=session_request.currency,
        decimals=details.decimals if details.decimals is not None else 6, network=details.network,
        splits=[Split(recipient=s.recipient, bps=s.share_bps) for s in details.distribution_splits],
        channel_program=details.channel_program, token_program=details.token_program,
        minimum_deposit=(int(session_request.minimum_deposit)
                         if session_request.minimum_deposit is not None else None),
        grace_period_seconds=details.grace_period_seconds, fee_payer=bool(details.fee_payer),
        fee_payer_key=details.fee_payer_key, voucher_signer=details.voucher_signer or "client",
        idle_timeout_options_seconds=details.idle_timeout_options_seconds)


def _challenge(request: dict[str, Any], challenge_id: str | None) -> Any:
    """The opening challenge (unexpired); its HMAC is not part of the open checks."""
    from solana_pay_kit.protocols.mpp.core.expires import minutes
    from solana_pay_kit.protocols.mpp.core.types import PaymentChallenge

    challenge = PaymentChallenge.with_secret_key(
        secret_key="refkit-structural-check", realm="refkit", method="solana", intent="session",
        request=PaymentChallenge.encode_request(request), expires=minutes(5))
    if challenge_id:
        challenge.id = challenge_id  # the id an operator-mode proof is bound to
    return challenge


async def _run_until_halt(action: Any) -> dict[str, Any]:
    try:
        await action
    except Exception as exc:
        if _halted(exc):
            return {"accepted": True, "reason": None}
        return {"accepted": False, "reason": reason_of(exc)}
    return {"accepted": False, "reason": "the reference pipeline finished without reaching a broadcast"}


def _halted(exc: BaseException | None) -> bool:
    seen = 0
    while exc is not None and seen < 10:
        if isinstance(exc, _Halt):
            return True
        exc = exc.__cause__ or exc.__context__
        seen += 1
    return False


def verify(request: dict[str, Any]) -> dict[str, Any]:
    from solana_pay_kit.protocols.mpp.intents.session import OpenPayload
    from solana_pay_kit.protocols.mpp.server.session import SessionServer
    from solana_pay_kit.protocols.mpp.server.session_onchain import new_open_tx_verifier
    from solana_pay_kit.protocols.mpp.server.session_store import MemoryChannelStore

    try:
        session_request = _parse_request(request["request"])
        payload = OpenPayload.from_dict(request["payload"])
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        return {"accepted": False, "reason": f"malformed input: {exc}"}
    config = _server_config(session_request)
    slot = request.get("currentSlot", session_request.method_details.recent_slot)
    config.current_slot_provider = lambda: int(slot)
    fee_payer = _NullFeePayer(config.fee_payer_key) if config.fee_payer else None
    config.verify_open_tx = new_open_tx_verifier(config, _HaltingRpc(), fee_payer_signer=fee_payer)
    server = SessionServer(config, MemoryChannelStore())
    challenge = _challenge(request["request"], request.get("challengeId"))
    return asyncio.run(_run_until_halt(server.process_open(payload, challenge)))


def top_up_transaction(session_request: Any, payer: Any, channel_id: str, amount: int,
                       recent_blockhash: str) -> str:
    """A v0 topUp transaction, paid and fully signed by the payer, as standard base64."""
    from solana_pay_kit._paycore.solana import default_token_program_for_currency
    from solana_pay_kit.protocols.mpp._paymentchannels import TopUpParams, build_top_up_instruction
    from solders.hash import Hash
    from solders.message import MessageV0
    from solders.pubkey import Pubkey
    from solders.transaction import VersionedTransaction

    details = session_request.method_details
    token_program = details.token_program or default_token_program_for_currency(
        session_request.currency, details.network)
    instruction = build_top_up_instruction(TopUpParams(
        payer=payer.pubkey(), channel=Pubkey.from_string(channel_id),
        mint=Pubkey.from_string(session_request.currency), amount=amount,
        token_program=Pubkey.from_string(token_program),
        program_id=Pubkey.from_string(details.channel_program)))
    message = MessageV0.try_compile(payer.pubkey(), [instruction], [], Hash.from_string(recent_blockhash))
    return base64.b64encode(bytes(VersionedTransaction(message, [payer]))).decode("ascii")


def build_top_up(request: dict[str, Any]) -> dict[str, Any]:
    from solana_pay_kit.protocols.mpp.intents.session import SessionAction, TopUpPayload

    amount = int(request["amount"])
    wire = top_up_transaction(_parse_request(request["request"]), keypair(request["payerSecret"]),
                              request["channelId"], amount, request["recentBlockhash"])
    action = SessionAction.top_up_action(TopUpPayload(
        channel_id=request["channelId"], additional_amount=str(amount), transaction=wire))
    return {"payload": action.to_dict(), "transaction": wire}


def verify_top_up(request: dict[str, Any]) -> dict[str, Any]:
    from solana_pay_kit.protocols.mpp.intents.session import TopUpPayload
    from solana_pay_kit.protocols.mpp.server.session import SessionServer
    from solana_pay_kit.protocols.mpp.server.session_onchain import new_top_up_tx_verifier
    from solana_pay_kit.protocols.mpp.server.session_store import ChannelState, MemoryChannelStore

    try:
        session_request = _parse_request(request["request"])
        payload = TopUpPayload.from_dict(request["payload"])
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        return {"accepted": False, "reason": f"malformed input: {exc}"}
    config = _server_config(session_request)
    store = MemoryChannelStore()
    channel = request["channel"]
    state = ChannelState(channel_id=payload.channel_id, authorized_signer=channel.get("authorizedSigner", ""),
                         deposit=int(channel.get("deposit", 0)), payer=channel["payer"])
    config.verify_top_up_tx = new_top_up_tx_verifier(config, store, _HaltingRpc())
    server = SessionServer(config, store)

    async def run() -> dict[str, Any]:
        await store.update_channel(payload.channel_id, lambda _current: state)
        return await _run_until_halt(server.process_top_up(payload))

    return asyncio.run(run())


if __name__ == "__main__":
    run_ops({"build": build, "verify": verify, "buildTopUp": build_top_up, "verifyTopUp": verify_top_up})
