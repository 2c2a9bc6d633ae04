"""The `session` intent's request for the `solana` method (draft-solana-session-00, Request Schema).

Parsing enforces every field rule of the spec at mpp-specs HEAD, naming the field that fails:
- `amount` a positive u64 string; `recipient` a public key; `currency` a non-empty string, and
  when it is a mint address (32-byte base58) `methodDetails.decimals` (0-9) is required;
- `network` one of mainnet/devnet/localnet; `channelProgram` a public key;
- a new-channel request (no `channelId`) needs `recentBlockhash`, `recentSlot` (u64 string) and
  `gracePeriodSeconds` (> 0, u32) and must not carry `idleTimeoutSeconds`; a resume request
  (`channelId`) needs `idleTimeoutSeconds` and must not carry `recentBlockhash`, `recentSlot` or
  `idleTimeoutOptionsSeconds`;
- `idleTimeoutOptionsSeconds` non-empty and strictly increasing within 1..2592000;
- `feePayer: true` needs `feePayerKey`; `voucherSigner` is `client` or `operator`, and `operator`
  mode needs `operator`; `tokenProgram` is SPL Token or Token-2022;
- `distributionSplits`: at most 32 entries, unique recipients, each `shareBps` > 0, sum <= 10000;
- shapes of the superseded draft (top-level `cap`/`programId`, `modes`, `pullVoucherStrategy`)
  are refused outright; a `methodDetails.version` other than 1 is refused.
Unknown fields are ignored (the core scheme says so) and dropped by `to_json()`.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from mppcli.errors import MalformedError
from mppcli.protocol.base58 import b58decode
from mppcli.protocol.fields import (
    as_object,
    check_range,
    field_path,
    get_bool,
    get_int,
    get_list,
    get_pubkey,
    get_str,
    get_u64,
    need_int,
    need_object,
    need_pubkey,
    need_str,
    need_u64,
    refuse,
)

NETWORKS = ("mainnet", "devnet", "localnet")


class VoucherSigner(StrEnum):
    """Who signs vouchers on a channel (spec: `voucherSigner`); a str, so it compares with wire text."""

    CLIENT = "client"
    OPERATOR = "operator"


VOUCHER_SIGNERS = tuple(VoucherSigner)
TOKEN_PROGRAM = "TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA"
TOKEN_2022_PROGRAM = "TokenzQdBNbLqP5VEhdkAS6EPFLC1PHnBqCXEpPxuEb"
MAX_IDLE_TIMEOUT_SECONDS = 2_592_000  # 30 days
MAX_SPLITS = 32  # the spec's RECOMMENDED MAX_DISTRIBUTION_RECIPIENTS
MAX_BPS = 10_000
U32_MAX = 2**32 - 1
_SUPERSEDED = {
    "cap": "it belongs to the superseded session draft (the current request has amount + methodDetails)",
    "programId": "it belongs to the superseded session draft (use methodDetails.channelProgram)",
    "modes": "push/pull funding modes belong to the superseded session draft",
    "pullVoucherStrategy": "it belongs to the superseded session draft (use methodDetails.voucherSigner)",
}


@dataclass(frozen=True)
class SplitEntry:
    """One co-recipient of the merchant-side pool; the payee keeps the remainder."""

    recipient: str
    share_bps: int

    def to_json(self) -> dict[str, Any]:
        return {"recipient": self.recipient, "shareBps": self.share_bps}


@dataclass(frozen=True)
class MethodDetails:
    """`methodDetails`: the Solana-specific part of a session request."""

    network: str
    channel_program: str
    channel_id: str | None = None
    recent_blockhash: str | None = None
    recent_slot: int | None = None
    decimals: int | None = None
    token_program: str | None = None
    fee_payer: bool | None = None
    fee_payer_key: str | None = None
    voucher_signer: str | None = None
    operator: str | None = None
    min_voucher_delta: int | None = None
    ttl_seconds: int | None = None
    idle_timeout_options_seconds: tuple[int, ...] | None = None
    idle_timeout_seconds: int | None = None
    grace_period_seconds: int | None = None
    distribution_splits: tuple[SplitEntry, ...] | None = None
    version: int | None = None

    @property
    def effective_voucher_signer(self) -> VoucherSigner:
        """`client` unless the challenge says `operator` (the spec's default)."""
        return VoucherSigner(self.voucher_signer or VoucherSigner.CLIENT)

    @property
    def is_resume(self) -> bool:
        return self.channel_id is not None

    @property
    def splits(self) -> tuple[SplitEntry, ...]:
        return self.distribution_splits or ()

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"network": self.network, "channelProgram": self.channel_program}
        for key, value in _details_optional(self).items():
            if value is not None:
                data[key] = value
        return data


def _details_optional(details: MethodDetails) -> dict[str, Any]:
    def text(value: int | None) -> str | None:
        return None if value is None else str(value)

    splits = details.distribution_splits
    options = details.idle_timeout_options_seconds
    return {
        "channelId": details.channel_id, "recentBlockhash": details.recent_blockhash,
        "recentSlot": text(details.recent_slot), "decimals": details.decimals,
        "tokenProgram": details.token_program, "feePayer": details.fee_payer,
        "feePayerKey": details.fee_payer_key, "voucherSigner": details.voucher_signer,
        "operator": details.operator, "minVoucherDelta": text(details.min_voucher_delta),
        "ttlSeconds": details.ttl_seconds,
        "idleTimeoutOptionsSeconds": None if options is None else list(options),
        "idleTimeoutSeconds": details.idle_timeout_seconds,
        "gracePeriodSeconds": details.grace_period_seconds,
        "distributionSplits": None if splits is None else [entry.to_json() for entry in splits],
        "version": details.version,
    }


@dataclass(frozen=True)
class SessionRequest:
    """The decoded `request` of a `solana`/`session` challenge. Amounts are base units (int)."""

    amount: int
    currency: str
    recipient: str
    method_details: MethodDetails
    unit_type: str | None = None
    suggested_deposit: int | None = None
    minimum_deposit: int | None = None
    description: str | None = None
    external_id: str | None = None

    @property
    def mint(self) -> str | None:
        """`currency` when it is a mint address (the spec's case), else None (e.g. a symbol)."""
        return self.currency if _is_address(self.currency) else None

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"amount": str(self.amount), "currency": self.currency,
                                "recipient": self.recipient, "methodDetails": self.method_details.to_json()}
        optional = {"unitType": self.unit_type, "suggestedDeposit": self.suggested_deposit,
                    "minimumDeposit": self.minimum_deposit, "description": self.description,
                    "externalId": self.external_id}
        for key, value in optional.items():
            if value is not None:
                data[key] = str(value) if isinstance(value, int) else value
        return data


def parse_session_request(value: object) -> SessionRequest:
    """Validate a decoded request object (see the module docstring for every rule)."""
    data = as_object(value, "request")
    refuse(data, _SUPERSEDED)
    details = parse_method_details(need_object(data, "methodDetails"))
    request = SessionRequest(
        amount=need_u64(data, "amount", positive=True),
        currency=need_str(data, "currency"),
        recipient=need_pubkey(data, "recipient"),
        method_details=details,
        unit_type=get_str(data, "unitType", required=False),
        suggested_deposit=get_u64(data, "suggestedDeposit", required=False),
        minimum_deposit=get_u64(data, "minimumDeposit", required=False),
        description=get_str(data, "description", required=False, nonempty=False),
        external_id=get_str(data, "externalId", required=False, nonempty=False),
    )
    if request.mint is not None and details.decimals is None:
        raise MalformedError("methodDetails.decimals is required when currency is a mint address")
    return request


def parse_method_details(data: dict[str, Any]) -> MethodDetails:
    """Validate `methodDetails` on its own (field names in messages carry the `methodDetails.` prefix)."""
    prefix = "methodDetails"
    refuse(data, _SUPERSEDED, prefix)
    details = MethodDetails(
        network=_network(need_str(data, "network", prefix)),
        channel_program=need_pubkey(data, "channelProgram", prefix),
        channel_id=get_pubkey(data, "channelId", prefix, required=False),
        recent_blockhash=_blockhash(get_str(data, "recentBlockhash", prefix, required=False)),
        recent_slot=get_u64(data, "recentSlot", prefix, required=False),
        decimals=get_int(data, "decimals", prefix, required=False, minimum=0, maximum=9),
        token_program=_token_program(get_pubkey(data, "tokenProgram", prefix, required=False)),
        fee_payer=get_bool(data, "feePayer", prefix),
        fee_payer_key=get_pubkey(data, "feePayerKey", prefix, required=False),
        voucher_signer=_voucher_signer(get_str(data, "voucherSigner", prefix, required=False)),
        operator=get_pubkey(data, "operator", prefix, required=False),
        min_voucher_delta=get_u64(data, "minVoucherDelta", prefix, required=False),
        ttl_seconds=get_int(data, "ttlSeconds", prefix, required=False, minimum=0),
        idle_timeout_options_seconds=_idle_options(data, prefix),
        idle_timeout_seconds=get_int(data, "idleTimeoutSeconds", prefix, required=False, minimum=1,
                                     maximum=MAX_IDLE_TIMEOUT_SECONDS),
        grace_period_seconds=get_int(data, "gracePeriodSeconds", prefix, required=False, minimum=1,
                                     maximum=U32_MAX),
        distribution_splits=parse_splits(data, prefix),
        version=get_int(data, "version", prefix, required=False, minimum=1, maximum=1),
    )
    _check_new_or_resume(details)
    _check_roles(details)
    return details


def _network(value: str) -> str:
    if value not in NETWORKS:
        raise MalformedError(f"methodDetails.network must be one of {', '.join(NETWORKS)}: {value[:40]!r}")
    return value


def _blockhash(value: str | None) -> str | None:
    if value is not None and len(b58decode(value, "methodDetails.recentBlockhash")) != 32:
        raise MalformedError("methodDetails.recentBlockhash must be a base58 hash of 32 bytes")
    return value


def _token_program(value: str | None) -> str | None:
    if value is not None and value not in (TOKEN_PROGRAM, TOKEN_2022_PROGRAM):
        raise MalformedError("methodDetails.tokenProgram must be the SPL Token or the Token-2022 program")
    return value


def _voucher_signer(value: str | None) -> str | None:
    if value is not None and value not in VOUCHER_SIGNERS:
        raise MalformedError(f"methodDetails.voucherSigner must be 'client' or 'operator': {value[:40]!r}")
    return value


def _idle_options(data: dict[str, Any], prefix: str) -> tuple[int, ...] | None:
    items = get_list(data, "idleTimeoutOptionsSeconds", prefix, required=False)
    if items is None:
        return None
    path = field_path(prefix, "idleTimeoutOptionsSeconds")
    if not items:
        raise MalformedError(f"{path} must not be empty")
    previous = 0
    for index, item in enumerate(items):
        if isinstance(item, bool) or not isinstance(item, int):
            raise MalformedError(f"{path}[{index}] must be a JSON integer")
        check_range(item, f"{path}[{index}]", 1, MAX_IDLE_TIMEOUT_SECONDS)
        if item <= previous:
            raise MalformedError(f"{path} must be strictly increasing ({item} follows {previous})")
        previous = item
    return tuple(items)


def parse_splits(data: dict[str, Any], prefix: str) -> tuple[SplitEntry, ...] | None:
    """`distributionSplits` (in a request or an open payload): the spec's list rules."""
    items = get_list(data, "distributionSplits", prefix, required=False)
    if items is None:
        return None
    path = field_path(prefix, "distributionSplits")
    if len(items) > MAX_SPLITS:
        raise MalformedError(f"{path} has {len(items)} entries; at most {MAX_SPLITS} are allowed")
    entries = tuple(_split_entry(item, f"{path}[{i}]") for i, item in enumerate(items))
    if len({entry.recipient for entry in entries}) != len(entries):
        raise MalformedError(f"{path} names the same recipient twice")
    total = sum(entry.share_bps for entry in entries)
    if total > MAX_BPS:
        raise MalformedError(f"{path} shares add up to {total} bps, above {MAX_BPS}")
    return entries


def _split_entry(item: object, path: str) -> SplitEntry:
    entry = as_object(item, path)
    return SplitEntry(need_pubkey(entry, "recipient", path),
                      need_int(entry, "shareBps", path, minimum=1, maximum=MAX_BPS))


def _check_new_or_resume(details: MethodDetails) -> None:
    prefix = "methodDetails."
    if details.is_resume:
        new_only = (("recentBlockhash", details.recent_blockhash), ("recentSlot", details.recent_slot),
                    ("idleTimeoutOptionsSeconds", details.idle_timeout_options_seconds))
        present = [name for name, value in new_only if value is not None]
        if present:
            raise MalformedError(f"{prefix}{present[0]} must be absent when methodDetails.channelId resumes")
        if details.idle_timeout_seconds is None:
            raise MalformedError(f"{prefix}idleTimeoutSeconds is required when resuming a channelId")
        return
    for name, value in (("recentBlockhash", details.recent_blockhash), ("recentSlot", details.recent_slot),
                        ("gracePeriodSeconds", details.grace_period_seconds)):
        if value is None:
            raise MalformedError(f"{prefix}{name} is required for a new channel (no methodDetails.channelId)")
    if details.idle_timeout_seconds is not None:
        raise MalformedError(f"{prefix}idleTimeoutSeconds must be absent from a new-channel challenge")


def _check_roles(details: MethodDetails) -> None:
    if details.fee_payer and details.fee_payer_key is None:
        raise MalformedError("methodDetails.feePayerKey is required when methodDetails.feePayer is true")
    if details.effective_voucher_signer == VoucherSigner.OPERATOR and details.operator is None:
        raise MalformedError("methodDetails.operator is required when voucherSigner is 'operator'")


def _is_address(text: str) -> bool:
    try:
        return len(text) <= 44 and len(b58decode(text, "currency")) == 32
    except MalformedError:
        return False
