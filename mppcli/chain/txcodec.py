"""Transactions on the wire: strict base64, signer slots, partial signing, header flags.

Every transaction is handled as a solders `VersionedTransaction`, whose message is either legacy
or v0; the wire bytes of a legacy one are those of a classic `Transaction`. Signing goes through
`partial_sign`, never through a constructor with keypairs: solders panics (an exception
`except Exception` cannot catch) when a signer is missing.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from dataclasses import dataclass

from solders.address_lookup_table_account import AddressLookupTableAccount
from solders.hash import Hash
from solders.instruction import Instruction
from solders.keypair import Keypair
from solders.message import Message, MessageV0, to_bytes_versioned
from solders.pubkey import Pubkey
from solders.signature import Signature
from solders.transaction import VersionedTransaction

from mppcli.errors import MalformedError

AnyMessage = Message | MessageV0
NO_SIGNATURE = Signature.default()
# The cluster's packet limit for a serialised transaction (signatures included).
MAX_TRANSACTION_SIZE = 1232


@dataclass(frozen=True)
class CompiledCall:
    """One instruction of a message with its keys resolved (static keys only; no lookup tables)."""

    index: int
    program_id: Pubkey
    accounts: tuple[Pubkey, ...]
    account_indexes: tuple[int, ...]
    data: bytes


def compile_transaction(instructions: Sequence[Instruction], fee_payer: Pubkey, recent_blockhash: Hash,
                        legacy: bool = False,
                        lookup_tables: Sequence[AddressLookupTableAccount] = ()) -> VersionedTransaction:
    """An unsigned transaction (every signature slot zero); v0 by default, taking from
    `lookup_tables` every key they hold that may be loaded (legacy cannot use tables)."""
    message: AnyMessage
    if legacy and lookup_tables:
        raise MalformedError("a legacy transaction cannot use address lookup tables")
    if legacy:
        message = Message.new_with_blockhash(list(instructions), fee_payer, recent_blockhash)
    else:
        message = MessageV0.try_compile(fee_payer, list(instructions), list(lookup_tables), recent_blockhash)
    return VersionedTransaction.populate(message, [NO_SIGNATURE] * message.header.num_required_signatures)


def fits(tx: VersionedTransaction) -> bool:
    """Whether the cluster accepts a transaction this size (the zero signature slots count too)."""
    return len(bytes(tx)) <= MAX_TRANSACTION_SIZE


def encode_transaction(tx: VersionedTransaction) -> str:
    """Standard base64 with padding: the only form the open and topUp payloads carry."""
    return base64.b64encode(bytes(tx)).decode("ascii")


def decode_transaction(data: str | bytes) -> VersionedTransaction:
    """Parse wire bytes, or their standard padded base64; trailing bytes and other alphabets are refused."""
    raw = _b64decode(data) if isinstance(data, str) else bytes(data)
    try:
        tx = VersionedTransaction.from_bytes(raw)
        tx.sanitize()
    except Exception as exc:  # solders raises its own error types for malformed input
        raise MalformedError(f"transaction does not parse: {exc}") from None
    message_of(tx)
    if bytes(tx) != raw:
        raise MalformedError("transaction has trailing bytes after the message")
    return tx


def _b64decode(text: str) -> bytes:
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise MalformedError("transaction must be standard base64 (A-Z a-z 0-9 + /) with padding") from None
    if base64.b64encode(raw).decode("ascii") != text:
        raise MalformedError("transaction must be standard base64 with its padding")
    return raw


def message_of(tx: VersionedTransaction) -> AnyMessage:
    """The message, which must be legacy or v0 (the only versions the cluster executes)."""
    message = tx.message
    if not isinstance(message, Message | MessageV0):
        raise MalformedError("only legacy and v0 transaction messages are accepted")
    return message


def signing_bytes(message: AnyMessage) -> bytes:
    """What each signer signs: the message bytes (v0 messages carry their 0x80 version prefix)."""
    return bytes(to_bytes_versioned(message))


def signer_keys(message: AnyMessage) -> list[Pubkey]:
    return list(message.account_keys[:message.header.num_required_signatures])


def is_signer(message: AnyMessage, index: int) -> bool:
    return index < message.header.num_required_signatures


def is_writable(message: AnyMessage, index: int) -> bool:
    """Writability from the header alone (static keys)."""
    header = message.header
    signed = header.num_required_signatures
    if index < signed:
        return index < signed - header.num_readonly_signed_accounts
    return index < len(message.account_keys) - header.num_readonly_unsigned_accounts


def partial_sign(tx: VersionedTransaction, keypairs: Sequence[Keypair]) -> VersionedTransaction:
    """Fill the slots of `keypairs`; every other slot keeps what it had (zero if unsigned)."""
    message = message_of(tx)
    signers = signer_keys(message)
    signatures = list(tx.signatures)
    payload = signing_bytes(message)
    for keypair in keypairs:
        if keypair.pubkey() not in signers:
            raise MalformedError(f"{keypair.pubkey()} is not a signer of this transaction")
        signatures[signers.index(keypair.pubkey())] = keypair.sign_message(payload)
    return VersionedTransaction.populate(message, signatures)


def signature_of(tx: VersionedTransaction, signer: Pubkey) -> Signature | None:
    """The slot of `signer`, or None when it is not a required signer."""
    signers = signer_keys(message_of(tx))
    return tx.signatures[signers.index(signer)] if signer in signers else None


def has_valid_signature(tx: VersionedTransaction, signer: Pubkey) -> bool:
    """Whether `signer`'s slot holds a signature that verifies over this message."""
    signature = signature_of(tx, signer)
    if signature is None or signature == NO_SIGNATURE:
        return False
    return signature.verify(signer, signing_bytes(message_of(tx)))


def missing_signers(tx: VersionedTransaction) -> list[Pubkey]:
    """Required signers whose slot is still zero."""
    pairs = zip(signer_keys(message_of(tx)), tx.signatures, strict=True)
    return [key for key, sig in pairs if sig == NO_SIGNATURE]


def uses_lookup_tables(message: AnyMessage) -> bool:
    return isinstance(message, MessageV0) and len(message.address_table_lookups) > 0


def compiled_calls(message: AnyMessage) -> list[CompiledCall]:
    """The message's instructions with their static keys resolved."""
    keys = list(message.account_keys)

    def key(index: int) -> Pubkey:
        if index >= len(keys):
            raise MalformedError(f"an instruction uses account #{index}, which is not a static key "
                                 "(address lookup tables are not accepted)")
        return keys[index]

    calls = []
    for i, ix in enumerate(message.instructions):
        indexes = tuple(ix.accounts)
        calls.append(CompiledCall(i, key(ix.program_id_index), tuple(key(j) for j in indexes),
                                  indexes, bytes(ix.data)))
    return calls
