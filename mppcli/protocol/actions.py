"""The five credential actions of the solana session method: open, voucher, use, topUp, close.

Decoding is strict: every amount, salt and slot is a u64 decimal string, keys are base58 public
keys, transactions standard padded base64, and
- `open` must not carry `bump` (spec: malformed-credential), an initial `voucher`, the superseded
  `recentSlot` echo (the field is `openSlot`) or a push/pull `mode`; its `authentication`, when
  present, must name the same payer;
- a `voucher` action's `channelId` must equal the signed voucher's;
- `close` carries exactly one of `voucher` (client-signed) or `authentication` (operator-signed);
- the superseded `commit` action and any other tag are refused.
Given the challenge's `voucherSigner`, `parse_action` also applies the per-mode rules: operator
mode needs `authentication` on open/use/close and has no `voucher` action; client mode forbids
`authentication` and needs the final voucher on close.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from mppcli.errors import MalformedError
from mppcli.protocol.bearer import Authentication, parse_authentication
from mppcli.protocol.encoding import b64_decode_standard
from mppcli.protocol.fields import (
    as_object,
    get_int,
    get_object,
    need_int,
    need_pubkey,
    need_str,
    need_u64,
    refuse,
)
from mppcli.protocol.session import U32_MAX, SplitEntry, VoucherSigner, parse_splits
from mppcli.protocol.voucher import SignedVoucher, parse_signed_voucher

ACTIONS = ("open", "voucher", "use", "topUp", "close")
_OPEN_FORBIDDEN = {
    "bump": "the channel bump is derived on chain; an open credential must not carry one",
    "voucher": "open carries no initial voucher; the first voucher follows the open",
    "recentSlot": "that is the superseded draft's name; the open payload carries openSlot",
    "mode": "push/pull funding modes belong to the superseded session draft",
}


@dataclass(frozen=True)
class OpenAction:
    channel_id: str
    payer: str
    payee: str
    mint: str
    authorized_signer: str
    salt: int
    deposit_amount: int
    grace_period_seconds: int
    open_slot: int
    transaction: str
    idle_timeout_seconds: int | None = None
    distribution_splits: tuple[SplitEntry, ...] | None = None
    authorization_policy: dict[str, Any] | None = None
    authentication: Authentication | None = None
    capabilities: dict[str, Any] | None = None
    action: str = "open"

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "action": "open", "channelId": self.channel_id, "payer": self.payer, "payee": self.payee,
            "mint": self.mint, "authorizedSigner": self.authorized_signer, "salt": str(self.salt),
            "depositAmount": str(self.deposit_amount), "gracePeriodSeconds": self.grace_period_seconds,
            "openSlot": str(self.open_slot), "transaction": self.transaction,
        }
        optional = {
            "idleTimeoutSeconds": self.idle_timeout_seconds,
            "distributionSplits": None if self.distribution_splits is None
            else [entry.to_json() for entry in self.distribution_splits],
            "authorizationPolicy": self.authorization_policy,
            "authentication": None if self.authentication is None else self.authentication.to_json(),
            "capabilities": self.capabilities,
        }
        data.update({key: value for key, value in optional.items() if value is not None})
        return data


@dataclass(frozen=True)
class VoucherAction:
    channel_id: str
    voucher: SignedVoucher
    action: str = "voucher"

    def to_json(self) -> dict[str, Any]:
        return {"action": "voucher", "channelId": self.channel_id, "voucher": self.voucher.to_json()}


@dataclass(frozen=True)
class UseAction:
    channel_id: str
    authentication: Authentication
    action: str = "use"

    def to_json(self) -> dict[str, Any]:
        return {"action": "use", "channelId": self.channel_id,
                "authentication": self.authentication.to_json()}


@dataclass(frozen=True)
class TopUpAction:
    channel_id: str
    additional_amount: int
    transaction: str
    action: str = "topUp"

    def to_json(self) -> dict[str, Any]:
        return {"action": "topUp", "channelId": self.channel_id,
                "additionalAmount": str(self.additional_amount), "transaction": self.transaction}


@dataclass(frozen=True)
class CloseAction:
    channel_id: str
    voucher: SignedVoucher | None = None
    authentication: Authentication | None = None
    action: str = "close"

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"action": "close", "channelId": self.channel_id}
        if self.voucher is not None:
            data["voucher"] = self.voucher.to_json()
        if self.authentication is not None:
            data["authentication"] = self.authentication.to_json()
        return data


Action = OpenAction | VoucherAction | UseAction | TopUpAction | CloseAction


def parse_action(payload: object, voucher_signer: str | None = None) -> Action:
    """Decode a credential payload; with `voucher_signer` ('client'/'operator') apply that mode's rules."""
    data = as_object(payload, "payload")
    tag = need_str(data, "action")
    if tag == "commit":
        raise MalformedError("the commit action belongs to the superseded session draft; "
                             "metered deliveries are committed on the side channel")
    if tag not in ACTIONS:
        raise MalformedError(f"unknown action {tag[:40]!r}; expected one of {', '.join(ACTIONS)}")
    action = _PARSERS[tag](data)
    if voucher_signer is not None:
        check_mode(action, voucher_signer)
    return action


def _open(data: dict[str, Any]) -> OpenAction:
    refuse(data, _OPEN_FORBIDDEN)
    authentication = _authentication(data)
    action = OpenAction(
        channel_id=need_pubkey(data, "channelId"), payer=need_pubkey(data, "payer"),
        payee=need_pubkey(data, "payee"), mint=need_pubkey(data, "mint"),
        authorized_signer=need_pubkey(data, "authorizedSigner"), salt=need_u64(data, "salt"),
        deposit_amount=need_u64(data, "depositAmount", positive=True),
        grace_period_seconds=need_int(data, "gracePeriodSeconds", minimum=1, maximum=U32_MAX),
        open_slot=need_u64(data, "openSlot"), transaction=_transaction(data),
        # Any JSON integer parses: a value outside 1..2592000 is the server's verification-failed
        # (spec: idle timeout), not a malformed credential.
        idle_timeout_seconds=get_int(data, "idleTimeoutSeconds", required=False),
        distribution_splits=parse_splits(data, ""),
        authorization_policy=get_object(data, "authorizationPolicy", required=False),
        authentication=authentication, capabilities=get_object(data, "capabilities", required=False),
    )
    if authentication is not None and authentication.payer != action.payer:
        raise MalformedError("authentication.payer must equal the open payload's payer")
    return action


def _voucher(data: dict[str, Any]) -> VoucherAction:
    channel_id = need_pubkey(data, "channelId")
    if "voucher" not in data:
        raise MalformedError("voucher is required")
    signed = parse_signed_voucher(data["voucher"])
    _same_channel(channel_id, signed)
    return VoucherAction(channel_id, signed)


def _use(data: dict[str, Any]) -> UseAction:
    authentication = _authentication(data)
    if authentication is None:
        raise MalformedError("authentication is required")
    return UseAction(need_pubkey(data, "channelId"), authentication)


def _top_up(data: dict[str, Any]) -> TopUpAction:
    return TopUpAction(need_pubkey(data, "channelId"), need_u64(data, "additionalAmount", positive=True),
                       _transaction(data))


def _close(data: dict[str, Any]) -> CloseAction:
    channel_id = need_pubkey(data, "channelId")
    signed = parse_signed_voucher(data["voucher"]) if "voucher" in data else None
    authentication = _authentication(data)
    if signed is not None:
        _same_channel(channel_id, signed)
    if (signed is None) == (authentication is None):
        raise MalformedError("close carries exactly one of voucher (client-signed channel) "
                             "or authentication (operator-signed channel)")
    return CloseAction(channel_id, signed, authentication)


_PARSERS: dict[str, Callable[[dict[str, Any]], Action]] = {
    "open": _open, "voucher": _voucher, "use": _use, "topUp": _top_up, "close": _close,
}


def check_mode(action: Action, voucher_signer: str) -> None:
    """The spec's per-voucherSigner rules for each action."""
    operator = voucher_signer == VoucherSigner.OPERATOR
    if isinstance(action, VoucherAction) and operator:
        raise MalformedError("the voucher action is only valid for a client-signed channel; use 'use'")
    if isinstance(action, UseAction) and not operator:
        raise MalformedError("the use action is only valid for an operator-signed channel; send a voucher")
    if isinstance(action, OpenAction | CloseAction):
        if operator and action.authentication is None:
            raise MalformedError(f"{action.action} requires authentication for an operator-signed channel")
        if not operator and action.authentication is not None:
            raise MalformedError(f"{action.action} must not carry authentication for a client-signed channel")


def _authentication(data: dict[str, Any]) -> Authentication | None:
    return parse_authentication(data["authentication"]) if "authentication" in data else None


def _transaction(data: dict[str, Any]) -> str:
    text = need_str(data, "transaction")
    b64_decode_standard(text, "transaction")
    return text


def _same_channel(channel_id: str, signed: SignedVoucher) -> None:
    if signed.voucher.channel_id != channel_id:
        raise MalformedError("voucher.voucher.channelId must equal the payload's channelId")
