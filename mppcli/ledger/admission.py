"""The checks a transaction passes before anything executes: signatures, blockhash, replay, fee.

They run in the order a validator runs them; each failure is Solana's own error (the RPC layer
turns `SignatureVerificationFailed` into -32003 and the others into preflight failures).
"""

from __future__ import annotations

from solders.account import Account
from solders.pubkey import Pubkey

from mppcli.ledger.blockhash import BlockhashWindow
from mppcli.ledger.errors import TransactionFailed
from mppcli.ledger.fees import transaction_fee
from mppcli.ledger.store import LedgerStore
from mppcli.ledger.svm import Svm
from mppcli.ledger.txview import TxView

SYSTEM_OWNER = Pubkey.default()


class SignatureVerificationFailed(TransactionFailed):
    def __init__(self) -> None:
        super().__init__("SignatureFailure")


def verify_signatures(view: TxView) -> None:
    if view.num_signatures != view.tx.message.header.num_required_signatures:
        raise TransactionFailed("SanitizeFailure")
    if not all(view.tx.verify_with_results()):
        raise SignatureVerificationFailed()


def check_blockhash(view: TxView, window: BlockhashWindow, slot: int) -> None:
    if window.slot_of(view.recent_blockhash, slot) is None:
        raise TransactionFailed("BlockhashNotFound")


def check_not_processed(view: TxView, store: LedgerStore) -> None:
    if store.has_transaction(str(view.signature)):
        raise TransactionFailed("AlreadyProcessed")


def check_fee_payer(view: TxView, svm: Svm) -> int:
    """The fee this transaction costs, once the fee payer is known to afford it."""
    fee = transaction_fee(view.num_signatures, view.instructions)
    payer = svm.account(view.fee_payer)
    if payer is None or payer.lamports == 0:
        raise TransactionFailed("AccountNotFound")
    if payer.owner != SYSTEM_OWNER:
        raise TransactionFailed("InvalidAccountForFee")
    if not _can_pay(payer, fee, svm):
        raise TransactionFailed("InsufficientFundsForFee")
    return fee


def _can_pay(payer: Account, fee: int, svm: Svm) -> bool:
    left = payer.lamports - fee
    return left == 0 or left >= svm.rent_exempt(len(payer.data))
