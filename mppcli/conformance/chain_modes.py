"""The conformance runner's chain modes (CONFORMANCE.md): JSON in, JSON out, over `chain/`.

Each mode takes the vector's `input` object and returns its `output` object. Input it cannot
accept raises `MalformedError` (the runner answers `ok: false` with the message), except
`open.verify`, which answers `accepted: false` with the reason for anything it rejects, including
a payload or transaction that does not parse.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from solders.hash import Hash
from solders.instruction import Instruction
from solders.pubkey import Pubkey
from solders.signature import Signature

from mppcli.chain.constants import PROGRAM_ID
from mppcli.chain.ed25519 import ed25519_instruction_data, ed25519_program_id
from mppcli.chain.idl_json import args_from_json, pubkey_from_json
from mppcli.chain.instructions import encode_instruction
from mppcli.chain.pda import escrow_address, find_channel_address
from mppcli.chain.splits import Split, splits_hash, splits_preimage, validate_splits
from mppcli.chain.verify import OpenClaim, OpenExpectations, OpenTerms, verify_open_transaction
from mppcli.errors import MalformedError
from mppcli.protocol.actions import OpenAction, parse_action
from mppcli.protocol.bearer import verify_bearer
from mppcli.protocol.fields import (
    as_object,
    get_pubkey,
    get_u64,
    need_int,
    need_list,
    need_pubkey,
    need_u64,
)
from mppcli.protocol.session import SessionRequest, SplitEntry, VoucherSigner, parse_session_request
from mppcli.protocol.voucher import parse_signed_voucher

Mode = Callable[[dict[str, Any]], dict[str, Any]]


def _key(data: Mapping[str, Any], name: str, prefix: str = "input") -> Pubkey:
    return Pubkey.from_string(need_pubkey(data, name, prefix))


def _program(data: Mapping[str, Any]) -> Pubkey:
    given = get_pubkey(data, "programId", "input", required=False)
    return Pubkey.from_string(given) if given else PROGRAM_ID


def channel_address(data: dict[str, Any]) -> dict[str, Any]:
    address, bump = find_channel_address(
        _key(data, "payer"), _key(data, "payee"), _key(data, "mint"), _key(data, "authorizedSigner"),
        need_u64(data, "salt", "input"), need_u64(data, "openSlot", "input"), _program(data))
    return {"address": str(address), "bump": bump}


def escrow(data: dict[str, Any]) -> dict[str, Any]:
    address = escrow_address(_key(data, "channel"), _key(data, "mint"), _key(data, "tokenProgram"))
    return {"address": str(address)}


def parse_splits(items: list[Any], path: str) -> tuple[Split, ...]:
    """`[{recipient, shareBps}]` into chain splits, validated by the program's rules."""
    splits = []
    for i, item in enumerate(items):
        entry = as_object(item, f"{path}[{i}]")
        splits.append(Split(_key(entry, "recipient", f"{path}[{i}]"),
                            need_int(entry, "shareBps", f"{path}[{i}]")))
    validate_splits(splits)
    return tuple(splits)


def splits_digest(data: dict[str, Any]) -> dict[str, Any]:
    splits = parse_splits(need_list(data, "splits", "input"), "input.splits")
    return {"preimageHex": splits_preimage(splits).hex(), "hashHex": splits_hash(splits).hex()}


def instruction_encode(data: dict[str, Any]) -> dict[str, Any]:
    name = data.get("name")
    if not isinstance(name, str):
        raise MalformedError("input.name must be the IDL name of an instruction")
    args = args_from_json(name, data.get("args", {}), "input.args")
    accounts = dict(as_object(data.get("accounts", {}), "input.accounts"))
    tail = accounts.pop("recipientTokenAccounts", None)
    keys = {k: pubkey_from_json(v, f"input.accounts.{k}") for k, v in accounts.items()}
    path = "input.accounts.recipientTokenAccounts"
    remaining = None if tail is None else [pubkey_from_json(v, f"{path}[{i}]")
                                           for i, v in enumerate(_list(tail, path))]
    return _instruction_json(encode_instruction(name, args, keys, _program(data), remaining))


def _list(value: object, path: str) -> list[Any]:
    if not isinstance(value, list):
        raise MalformedError(f"{path} must be a JSON array")
    return value


def _instruction_json(ix: Instruction) -> dict[str, Any]:
    metas = [{"pubkey": str(m.pubkey), "isSigner": m.is_signer, "isWritable": m.is_writable}
             for m in ix.accounts]
    return {"programId": str(ix.program_id), "dataHex": bytes(ix.data).hex(), "accounts": metas}


def ed25519(data: dict[str, Any]) -> dict[str, Any]:
    signed = parse_signed_voucher(data.get("signedVoucher"), "input.signedVoucher")
    signer, signature = Pubkey.from_string(signed.signer), Signature.from_string(signed.signature)
    body = ed25519_instruction_data(signer, signature, signed.message())
    return {"programId": str(ed25519_program_id()), "dataHex": body.hex()}


def open_verify(data: dict[str, Any]) -> dict[str, Any]:
    """Every open check that needs neither RPC nor the HMAC secret; any rejection is `accepted: false`."""
    try:
        expectations, action = _open_inputs(data)
        verify_open_transaction(action.transaction, expectations)
        _check_bearer(action)
    except MalformedError as exc:
        return {"accepted": False, "reason": str(exc)}
    return {"accepted": True}


def _open_inputs(data: dict[str, Any]) -> tuple[OpenExpectations, OpenAction]:
    request = parse_session_request(data.get("request"))
    details = request.method_details
    action = parse_action(data.get("payload"), details.effective_voucher_signer)
    if not isinstance(action, OpenAction):
        raise MalformedError(f"payload.action must be 'open', got {action.action!r}")
    current = get_u64(data, "currentSlot", "input", required=False)
    terms = open_terms(request, get_pubkey(data, "feePayerKey", "input", required=False))
    return OpenExpectations(terms, open_claim(action), current_slot=current), action


def open_terms(request: SessionRequest, server_fee_payer: str | None = None) -> OpenTerms:
    """What a new-channel challenge fixes, as the chain verifier wants it."""
    details = request.method_details
    if request.mint is None:
        raise MalformedError("currency must be a mint address to open a channel")
    blockhash, slot, grace = details.recent_blockhash, details.recent_slot, details.grace_period_seconds
    if blockhash is None or slot is None or grace is None:
        raise MalformedError("the challenge resumes a channel; it carries no open terms")
    sponsor = details.fee_payer_key if details.fee_payer else None
    if sponsor is not None and server_fee_payer is not None and sponsor != server_fee_payer:
        raise MalformedError(f"the challenge's feePayerKey {sponsor} is not the server's fee payer "
                             f"{server_fee_payer}")
    operator = details.operator if details.effective_voucher_signer == VoucherSigner.OPERATOR else None
    return OpenTerms(
        program_id=Pubkey.from_string(details.channel_program),
        recipient=Pubkey.from_string(request.recipient), mint=Pubkey.from_string(request.mint),
        recent_blockhash=Hash.from_string(blockhash), recent_slot=slot, grace_period=grace,
        splits=_chain_splits(details.splits), token_program=_maybe_key(details.token_program),
        fee_payer=_maybe_key(sponsor), minimum_deposit=request.minimum_deposit,
        operator=_maybe_key(operator), idle_timeout_options=details.idle_timeout_options_seconds)


def open_claim(action: OpenAction) -> OpenClaim:
    """What an open payload declares, as the chain verifier wants it."""
    splits = None if action.distribution_splits is None else _chain_splits(action.distribution_splits)
    return OpenClaim(
        channel_id=Pubkey.from_string(action.channel_id), payer=Pubkey.from_string(action.payer),
        payee=Pubkey.from_string(action.payee), mint=Pubkey.from_string(action.mint),
        authorized_signer=Pubkey.from_string(action.authorized_signer), salt=action.salt,
        deposit_amount=action.deposit_amount, grace_period=action.grace_period_seconds,
        open_slot=action.open_slot, splits=splits, idle_timeout=action.idle_timeout_seconds)


def _chain_splits(entries: tuple[SplitEntry, ...]) -> tuple[Split, ...]:
    return tuple(Split(Pubkey.from_string(e.recipient), e.share_bps) for e in entries)


def _maybe_key(text: str | None) -> Pubkey | None:
    return None if text is None else Pubkey.from_string(text)


def _check_bearer(action: OpenAction) -> None:
    """Operator mode (spec step 12): the payer's proof must verify over this channel."""
    if action.authentication is not None and not verify_bearer(action.channel_id, action.authentication):
        raise MalformedError("authentication.signature is not the payer's signature over this "
                             "channel's proof")


MODES: dict[str, Mode] = {
    "channel.address": channel_address,
    "escrow.address": escrow,
    "splits.hash": splits_digest,
    "instruction.encode": instruction_encode,
    "ed25519.instruction": ed25519,
    "open.verify": open_verify,
}
