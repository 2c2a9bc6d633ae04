"""Our side of the transaction interop tests: wire JSON in, our chain/ and protocol/ code out.

The glue maps the decoded challenge request and the action payload (wire JSON) onto the typed
inputs of `mppcli.chain`; every check and every byte is our modules' own.
"""

from __future__ import annotations

from typing import Any


def _pk(text: str | None) -> Any:
    from solders.pubkey import Pubkey

    assert text, "a public key the parser guarantees is missing"
    return Pubkey.from_string(text)


def _splits(entries: Any) -> tuple[Any, ...]:
    from mppcli.chain.splits import Split

    return tuple(Split(_pk(e.recipient), e.share_bps) for e in entries or ())


def token_program(request: dict[str, Any]) -> Any:
    from mppcli.chain.constants import TOKEN_PROGRAM

    given = request["methodDetails"].get("tokenProgram")
    return _pk(given) if given else TOKEN_PROGRAM


def open_expectations(request: dict[str, Any], payload: dict[str, Any],
                      current_slot: int | None = None) -> Any:
    """OpenExpectations for `payload` answering the challenge whose decoded request is `request`."""
    from solders.hash import Hash

    from mppcli.chain.verify import OpenClaim, OpenExpectations, OpenTerms
    from mppcli.protocol.actions import OpenAction, parse_action
    from mppcli.protocol.session import parse_session_request

    parsed = parse_session_request(request)
    details = parsed.method_details
    action = parse_action(payload, details.effective_voucher_signer)
    assert isinstance(action, OpenAction), f"not an open payload: {payload.get('action')}"
    terms = OpenTerms(
        program_id=_pk(details.channel_program), recipient=_pk(parsed.recipient), mint=_pk(parsed.currency),
        recent_blockhash=Hash.from_string(details.recent_blockhash or ""),
        recent_slot=details.recent_slot or 0, grace_period=details.grace_period_seconds or 0,
        splits=_splits(details.distribution_splits),
        token_program=_pk(details.token_program) if details.token_program else None,
        fee_payer=_pk(details.fee_payer_key) if details.fee_payer else None,
        minimum_deposit=parsed.minimum_deposit,
        operator=_pk(details.operator) if details.effective_voucher_signer == "operator" else None,
        idle_timeout_options=details.idle_timeout_options_seconds)
    claim = OpenClaim(
        channel_id=_pk(action.channel_id), payer=_pk(action.payer), payee=_pk(action.payee),
        mint=_pk(action.mint), authorized_signer=_pk(action.authorized_signer), salt=action.salt,
        deposit_amount=action.deposit_amount, grace_period=action.grace_period_seconds,
        open_slot=action.open_slot,
        splits=None if action.distribution_splits is None else _splits(action.distribution_splits),
        idle_timeout=action.idle_timeout_seconds)
    return OpenExpectations(terms=terms, claim=claim, current_slot=current_slot)


def verify_open(request: dict[str, Any], payload: dict[str, Any], current_slot: int | None = None) -> Any:
    """Our structural verification; returns VerifiedOpen or raises OpenRejected."""
    from mppcli.chain.verify import verify_open_transaction

    return verify_open_transaction(payload["transaction"], open_expectations(request, payload, current_slot))


def build_open(request: dict[str, Any], payer_secret: str, authorized_signer: str, salt: int,
               deposit: int) -> dict[str, Any]:
    """The open payload our chain/ and protocol/ modules produce for this challenge."""
    from solders.hash import Hash
    from solders.keypair import Keypair

    from mppcli.chain.params import OpenParams
    from mppcli.chain.transactions import build_open_transaction
    from mppcli.chain.txcodec import encode_transaction, partial_sign
    from mppcli.protocol.actions import OpenAction
    from mppcli.protocol.session import parse_session_request

    parsed = parse_session_request(request)
    details = parsed.method_details
    payer = Keypair.from_base58_string(payer_secret)
    fee_payer = _pk(details.fee_payer_key) if details.fee_payer else payer.pubkey()
    params = OpenParams(
        payer=payer.pubkey(), payee=_pk(parsed.recipient), mint=_pk(parsed.currency),
        authorized_signer=_pk(authorized_signer), salt=salt, deposit=deposit,
        grace_period=details.grace_period_seconds or 0, open_slot=details.recent_slot or 0,
        rent_payer=fee_payer, token_program=token_program(request),
        splits=_splits(details.distribution_splits), program_id=_pk(details.channel_program))
    tx = build_open_transaction(params, Hash.from_string(details.recent_blockhash or ""), fee_payer)
    wire = encode_transaction(partial_sign(tx, [payer]))
    action = OpenAction(
        channel_id=str(params.channel), payer=str(params.payer), payee=parsed.recipient,
        mint=parsed.currency, authorized_signer=authorized_signer, salt=salt, deposit_amount=deposit,
        grace_period_seconds=params.grace_period, open_slot=params.open_slot, transaction=wire,
        distribution_splits=details.distribution_splits or None)
    payload: dict[str, Any] = action.to_json()
    return payload


def channel_keys(request: dict[str, Any], channel_id: str, payer: str, authorized_signer: str) -> Any:
    """The stored channel a topUp addresses (rent payer: the challenge's fee payer or the payer)."""
    from mppcli.chain.params import ChannelKeys
    from mppcli.protocol.session import parse_session_request

    parsed = parse_session_request(request)
    details = parsed.method_details
    rent_payer = (details.fee_payer_key if details.fee_payer else None) or payer
    return ChannelKeys(channel=_pk(channel_id), payer=_pk(payer), payee=_pk(parsed.recipient),
                       mint=_pk(parsed.currency), authorized_signer=_pk(authorized_signer),
                       rent_payer=_pk(rent_payer), token_program=token_program(request),
                       splits=_splits(details.distribution_splits),
                       program_id=_pk(details.channel_program))


def build_top_up(keys: Any, payer_secret: str, amount: int, recent_blockhash: str,
                 sponsor: str | None = None) -> dict[str, Any]:
    """Our topUp payload: payer-paid and fully signed, or sponsored (slot 0 left for `sponsor`)."""
    from solders.hash import Hash
    from solders.keypair import Keypair

    from mppcli.chain.transactions import build_top_up_transaction
    from mppcli.chain.txcodec import encode_transaction, partial_sign
    from mppcli.protocol.actions import TopUpAction

    fee_payer = _pk(sponsor) if sponsor else None
    tx = build_top_up_transaction(keys, amount, Hash.from_string(recent_blockhash), fee_payer)
    wire = encode_transaction(partial_sign(tx, [Keypair.from_base58_string(payer_secret)]))
    payload: dict[str, Any] = TopUpAction(str(keys.channel), amount, wire).to_json()
    return payload


def verify_top_up(keys: Any, payload: dict[str, Any], sponsor: str | None = None) -> Any:
    """Our structural topUp verification; returns VerifiedTopUp or raises TopUpRejected."""
    from mppcli.chain.verify import TopUpExpectations, verify_top_up_transaction
    from mppcli.protocol.actions import TopUpAction, parse_action

    action = parse_action(payload)
    assert isinstance(action, TopUpAction), f"not a topUp payload: {payload.get('action')}"
    expect = TopUpExpectations(keys=keys, amount=action.additional_amount,
                               sponsor=_pk(sponsor) if sponsor else None)
    return verify_top_up_transaction(action.transaction, expect)
