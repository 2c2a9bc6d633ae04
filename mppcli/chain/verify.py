"""Server-side structural verification of a client's open and topUp transactions (no RPC).

`verify_open_transaction` runs every check of the spec's open settlement procedure (steps 1-12)
that needs neither the network nor the HMAC secret: the decoded transaction, not the HTTP
payload, is authoritative, and any disagreement between the challenge, the payload and the
transaction is an `OpenRejected` whose message names the field and both values. Verifying the
operator-mode bearer proof is the protocol layer's job; the chain layer checks that the
authorized signer is the operator.

`verify_top_up_transaction` accepts both forms: payer-paid (fully signed; what the reference server
wants) and sponsored (the server's fee-payer slot still empty).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from solders.hash import Hash
from solders.instruction import AccountMeta
from solders.pubkey import Pubkey
from solders.transaction import VersionedTransaction

from mppcli.chain import txcodec
from mppcli.chain.compute_budget import ComputeBudget, ComputeBudgetLimits, parse_compute_budget
from mppcli.chain.constants import (
    COMPUTE_BUDGET_PROGRAM,
    OPEN_SLOT_WINDOW,
    RETIRED_PROGRAM_IDS,
    TOKEN_PROGRAMS,
)
from mppcli.chain.instructions import (
    DecodedInstruction,
    decode_instruction,
    instruction_def,
    open_instruction,
    top_up_instruction,
)
from mppcli.chain.networks import known_mint
from mppcli.chain.params import ChannelKeys, OpenParams
from mppcli.chain.splits import Split, validate_splits
from mppcli.errors import MalformedError


class TransactionRejected(MalformedError):
    """A client transaction the server must not sign, pay for or broadcast; `reason` says why.

    Every check below raises this one type; each public entry point re-wraps whatever it catches
    once, as `OpenRejected` or `TopUpRejected`, so a caller catches the kind it asked about.
    """

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class OpenRejected(TransactionRejected):
    """The open transaction disagrees with the challenge or the payload."""


class TopUpRejected(TransactionRejected):
    """The topUp transaction does not top up this channel by the claimed amount."""


@dataclass(frozen=True)
class OpenTerms:
    """What the challenge fixed (its decoded request)."""

    program_id: Pubkey
    recipient: Pubkey
    mint: Pubkey
    recent_blockhash: Hash
    recent_slot: int
    grace_period: int
    splits: tuple[Split, ...] = ()
    token_program: Pubkey | None = None
    fee_payer: Pubkey | None = None  # feePayerKey, only when feePayer is true
    minimum_deposit: int | None = None
    operator: Pubkey | None = None  # only when voucherSigner is "operator"
    idle_timeout_options: tuple[int, ...] | None = None


@dataclass(frozen=True)
class OpenClaim:
    """What the open payload declares."""

    channel_id: Pubkey
    payer: Pubkey
    payee: Pubkey
    mint: Pubkey
    authorized_signer: Pubkey
    salt: int
    deposit_amount: int
    grace_period: int
    open_slot: int
    splits: tuple[Split, ...] | None = None  # None: the payload omitted distributionSplits
    idle_timeout: int | None = None


@dataclass(frozen=True)
class OpenExpectations:
    terms: OpenTerms
    claim: OpenClaim
    current_slot: int | None = None  # the server's view of the cluster slot, when it has one
    limits: ComputeBudgetLimits = field(default_factory=ComputeBudgetLimits)


@dataclass(frozen=True)
class VerifiedOpen:
    """An open the server may co-sign (when sponsored) and broadcast."""

    params: OpenParams
    channel: Pubkey
    bump: int
    fee_payer: Pubkey
    sponsored: bool
    compute_budget: ComputeBudget
    transaction: VersionedTransaction


@dataclass(frozen=True)
class TopUpExpectations:
    keys: ChannelKeys  # the stored channel
    amount: int  # additionalAmount
    sponsor: Pubkey | None = None  # the server's fee payer, when it sponsors top-ups
    recent_blockhash: Hash | None = None
    limits: ComputeBudgetLimits = field(default_factory=ComputeBudgetLimits)


@dataclass(frozen=True)
class VerifiedTopUp:
    amount: int
    fee_payer: Pubkey
    sponsored: bool
    compute_budget: ComputeBudget
    transaction: VersionedTransaction


# --- open -----------------------------------------------------------------------------------------

def verify_open_transaction(tx: VersionedTransaction | bytes | str, expect: OpenExpectations) -> VerifiedOpen:
    """Check an open transaction against the challenge and payload; raises `OpenRejected`."""
    try:
        return _verify_open(_decode(tx), expect)
    except MalformedError as exc:  # a TransactionRejected from the checks, or an undecodable field
        raise OpenRejected(str(exc)) from None


def _verify_open(tx: VersionedTransaction, expect: OpenExpectations) -> VerifiedOpen:
    terms, claim = expect.terms, expect.claim
    _check_claim(terms, claim, expect.current_slot)
    fee_payer = terms.fee_payer or claim.payer
    _same(tx.message.recent_blockhash, terms.recent_blockhash, "recent blockhash",
          "the challenge's recentBlockhash")
    call, budget = _single_program_call(tx, terms.program_id, (fee_payer,), expect.limits)
    decoded = _decode_call(call, "open")
    params = _expected_open(terms, claim, fee_payer, decoded.accounts["tokenProgram"])
    _compare_open(decoded, params)
    channel, bump = params.channel_address()
    if channel != claim.channel_id:
        raise TransactionRejected(
            f"channelId {claim.channel_id} is not the channel PDA {channel} "
            "of the open arguments"
        )
    _check_keys(tx, open_instruction(params).accounts, fee_payer, call)
    if fee_payer != claim.payer:
        # The sponsor funds the rent (rentPayer) and may be the payee itself (a read-only account);
        # in operator mode it may also be the challenged operator, i.e. the authorizedSigner (the
        # spec lets `operator` equal `feePayerKey`; the reference server always does that).
        allowed: tuple[str, ...] = ("rentPayer", "payee")
        if terms.operator is not None and terms.operator == fee_payer:
            allowed += ("authorizedSigner",)
        _check_not_authority(decoded, fee_payer, allowed)
    _check_signed(tx, claim.payer, "payer")
    return VerifiedOpen(params, channel, bump, fee_payer, fee_payer != claim.payer, budget, tx)


def _check_claim(terms: OpenTerms, claim: OpenClaim, current_slot: int | None) -> None:
    """Payload against challenge (spec steps 2, 5, 6, 7, 10, 12)."""
    if terms.program_id in RETIRED_PROGRAM_IDS:
        raise TransactionRejected(f"channel program {terms.program_id} is retired and must not be used")
    _same(claim.payee, terms.recipient, "payload payee", "challenge recipient")
    _same(claim.mint, terms.mint, "payload mint", "challenge currency")
    if claim.payer == claim.payee:
        raise TransactionRejected("payer and payee must differ")
    if terms.fee_payer is not None and terms.fee_payer == claim.payer:
        raise TransactionRejected("the server's fee payer cannot be the channel's payer")
    _check_grace(terms, claim)
    _check_deposit(terms, claim)
    _check_open_slot(claim.open_slot, terms.recent_slot, "recentSlot")
    if current_slot is not None:
        _check_open_slot(claim.open_slot, current_slot, "the current slot")
    _check_splits(terms, claim)
    _check_idle_timeout(terms, claim)
    _check_signer(terms, claim)


def _check_grace(terms: OpenTerms, claim: OpenClaim) -> None:
    if claim.grace_period <= 0:
        raise TransactionRejected("gracePeriodSeconds must be greater than zero")
    if claim.grace_period != terms.grace_period:
        raise TransactionRejected(
            f"payload gracePeriodSeconds {claim.grace_period} differs from the challenge's "
            f"{terms.grace_period}"
        )


def _check_deposit(terms: OpenTerms, claim: OpenClaim) -> None:
    if claim.deposit_amount <= 0:
        raise TransactionRejected("depositAmount must be greater than zero")
    if terms.minimum_deposit is not None and claim.deposit_amount < terms.minimum_deposit:
        raise TransactionRejected(
            f"depositAmount {claim.deposit_amount} is below minimumDeposit "
            f"{terms.minimum_deposit}"
        )


def _check_open_slot(open_slot: int, reference: int, name: str) -> None:
    if open_slot > reference:
        raise TransactionRejected(f"openSlot {open_slot} is after {name} {reference}")
    if reference - open_slot > OPEN_SLOT_WINDOW:
        raise TransactionRejected(
            f"openSlot {open_slot} is more than {OPEN_SLOT_WINDOW} slots before "
            f"{name} {reference}"
        )


def _check_splits(terms: OpenTerms, claim: OpenClaim) -> None:
    given = claim.splits if claim.splits is not None else ()
    if given != terms.splits:
        raise TransactionRejected(
            f"payload distributionSplits {_show(given)} differ from the challenge's "
            f"{_show(terms.splits)}"
        )
    validate_splits(terms.splits, claim.channel_id)


def _check_idle_timeout(terms: OpenTerms, claim: OpenClaim) -> None:
    if claim.idle_timeout is None:
        return
    if not terms.idle_timeout_options:
        raise TransactionRejected(
            "idleTimeoutSeconds is not allowed: the challenge offers no "
            "idleTimeoutOptionsSeconds"
        )
    if claim.idle_timeout not in terms.idle_timeout_options:
        raise TransactionRejected(
            f"idleTimeoutSeconds {claim.idle_timeout} is not one of the offered "
            f"{list(terms.idle_timeout_options)}"
        )


def _check_signer(terms: OpenTerms, claim: OpenClaim) -> None:
    if not claim.authorized_signer.is_on_curve():
        raise TransactionRejected(
            f"authorizedSigner {claim.authorized_signer} is not a valid Ed25519 public key"
        )
    if terms.operator is not None:
        _same(claim.authorized_signer, terms.operator, "authorizedSigner", "the challenge's operator")


def _expected_open(terms: OpenTerms, claim: OpenClaim, fee_payer: Pubkey,
                   token_program: Pubkey) -> OpenParams:
    """The open instruction the server would accept (spec steps 2-4, 8)."""
    if token_program not in TOKEN_PROGRAMS:
        raise TransactionRejected(f"token program {token_program} is neither SPL Token nor Token-2022")
    if terms.token_program is not None:
        _same(token_program, terms.token_program, "open tokenProgram", "the challenge's tokenProgram")
    elif (known := known_mint(terms.mint)) is not None:
        # Spec step 4: without a challenged tokenProgram it must be one the mint supports; for a
        # known stablecoin that is exactly one (an escrow ATA under the other program is useless).
        _same(token_program, known.token_program, "open tokenProgram", f"{known.symbol}'s token program")
    return OpenParams(payer=claim.payer, payee=terms.recipient, mint=terms.mint,
                      authorized_signer=claim.authorized_signer, salt=claim.salt,
                      deposit=claim.deposit_amount, grace_period=terms.grace_period,
                      open_slot=claim.open_slot,
                      rent_payer=fee_payer, token_program=token_program, splits=terms.splits,
                      program_id=terms.program_id)


_OPEN_ARGS = (("salt", "salt", "payload salt"), ("deposit", "deposit", "payload depositAmount"),
              ("gracePeriod", "grace_period", "challenge gracePeriodSeconds"),
              ("openSlot", "open_slot", "payload openSlot"))


def _compare_open(decoded: DecodedInstruction, params: OpenParams) -> None:
    """Decoded instruction against the expected one, field by field, account by account."""
    fields = decoded.fields()
    for name, attr, source in _OPEN_ARGS:
        _same(fields[name], getattr(params, attr), f"open {name}", source)
    recipients = tuple(Split(e["recipient"], e["bps"]) for e in fields["recipients"])
    if recipients != params.splits:
        raise TransactionRejected(
            f"open commits distribution {_show(recipients)}, the challenge proposes "
            f"{_show(params.splits)}"
        )
    _compare_accounts(decoded, open_instruction(params).accounts)


def _compare_accounts(decoded: DecodedInstruction, metas: Sequence[AccountMeta]) -> None:
    for (name, got), meta in zip(decoded.accounts.items(), metas, strict=True):
        _same(got, meta.pubkey, f"{decoded.name} account {name}", "the expected")


# --- topUp ----------------------------------------------------------------------------------------

def verify_top_up_transaction(tx: VersionedTransaction | bytes | str,
                              expect: TopUpExpectations) -> VerifiedTopUp:
    """Check that `tx` only raises this channel's deposit by `expect.amount`; raises `TopUpRejected`."""
    try:
        return _verify_top_up(_decode(tx), expect)
    except MalformedError as exc:  # a TransactionRejected from the checks, or an undecodable field
        raise TopUpRejected(str(exc)) from None


def _verify_top_up(tx: VersionedTransaction, expect: TopUpExpectations) -> VerifiedTopUp:
    keys = expect.keys
    if expect.amount <= 0:
        raise TransactionRejected("additionalAmount must be greater than zero")
    if expect.recent_blockhash is not None:
        _same(tx.message.recent_blockhash, expect.recent_blockhash, "recent blockhash", "the challenged one")
    fee_payers = (keys.payer,) if expect.sponsor is None else (keys.payer, expect.sponsor)
    call, budget = _single_program_call(tx, keys.program_id, fee_payers, expect.limits)
    decoded = _decode_call(call, "topUp")
    _same(decoded.accounts["channel"], keys.channel, "topUp channel", "this channel")
    _same(decoded.fields()["amount"], expect.amount, "topUp amount", "additionalAmount")
    expected = top_up_instruction(keys, expect.amount)
    _compare_accounts(decoded, expected.accounts)
    fee_payer = tx.message.account_keys[0]
    _check_keys(tx, expected.accounts, fee_payer, call)
    if fee_payer != keys.payer:
        _check_not_authority(decoded, fee_payer, ())
    _check_signed(tx, keys.payer, "payer")
    return VerifiedTopUp(expect.amount, fee_payer, fee_payer != keys.payer, budget, tx)


# --- shared structural checks ----------------------------------------------------------------------

def _decode(tx: VersionedTransaction | bytes | str) -> VersionedTransaction:
    return tx if isinstance(tx, VersionedTransaction) else txcodec.decode_transaction(tx)


def _single_program_call(tx: VersionedTransaction, program_id: Pubkey, fee_payers: tuple[Pubkey, ...],
                         limits: ComputeBudgetLimits) -> tuple[txcodec.CompiledCall, ComputeBudget]:
    """One channel-program call plus bounded Compute Budget calls; no lookup tables; fee payer as agreed."""
    message = txcodec.message_of(tx)
    if txcodec.uses_lookup_tables(message):
        raise TransactionRejected("the transaction uses address lookup tables")
    if message.account_keys[0] not in fee_payers:
        raise TransactionRejected(
            f"fee payer {message.account_keys[0]} is not the expected "
            f"{' or '.join(str(k) for k in fee_payers)}"
        )
    calls = txcodec.compiled_calls(message)
    ours = [c for c in calls if c.program_id == program_id]
    others = [c for c in calls if c.program_id not in (program_id, COMPUTE_BUDGET_PROGRAM)]
    if others:
        raise TransactionRejected(
            f"instruction #{others[0].index} calls {others[0].program_id}; only the channel program "
            f"{program_id} and ComputeBudget are allowed"
        )
    if len(ours) != 1:
        raise TransactionRejected(
            f"the transaction must call the channel program {program_id} exactly once, "
            f"it calls it {len(ours)} times"
        )
    budget_calls = [c for c in calls if c.program_id == COMPUTE_BUDGET_PROGRAM]
    if any(c.accounts for c in budget_calls):
        raise TransactionRejected("a ComputeBudget instruction carries accounts")
    return ours[0], parse_compute_budget([c.data for c in budget_calls], limits)


def _decode_call(call: txcodec.CompiledCall, name: str) -> DecodedInstruction:
    if not call.data or call.data[0] != _discriminator(name):
        raise TransactionRejected(
            f"the channel instruction is not {name} (discriminator {_discriminator(name)})"
        )
    return decode_instruction(call.program_id, call.data, list(call.accounts))


def _discriminator(name: str) -> int:
    return instruction_def(name).discriminator


def _check_keys(tx: VersionedTransaction, metas: Sequence[AccountMeta], fee_payer: Pubkey,
                call: txcodec.CompiledCall) -> None:
    """Every static key is used, and signer/writable flags are exactly what the instruction needs."""
    message = txcodec.message_of(tx)
    signers = {fee_payer} | {m.pubkey for m in metas if m.is_signer}
    writable = {fee_payer} | {m.pubkey for m in metas if m.is_writable}
    used = set(call.accounts) | {c.program_id for c in txcodec.compiled_calls(message)} | {fee_payer}
    for i, key in enumerate(message.account_keys):
        if key not in used:
            raise TransactionRejected(f"account {key} is in the transaction but no instruction uses it")
        if txcodec.is_signer(message, i) != (key in signers):
            raise TransactionRejected(f"account {key} is {'' if key in signers else 'not '}expected to sign")
        if txcodec.is_writable(message, i) and key not in writable:
            raise TransactionRejected(f"account {key} is writable but must be read-only")
        if not txcodec.is_writable(message, i) and key in writable:
            raise TransactionRejected(f"account {key} must be writable")


def _check_not_authority(decoded: DecodedInstruction, fee_payer: Pubkey, allowed: tuple[str, ...]) -> None:
    """The server's fee payer never stands in for the payer, payee or any other role."""
    for name, key in decoded.accounts.items():
        if key == fee_payer and name not in allowed:
            raise TransactionRejected(f"the fee payer {fee_payer} is used as {decoded.name} account {name}")


def _check_signed(tx: VersionedTransaction, signer: Pubkey, role: str) -> None:
    if not txcodec.has_valid_signature(tx, signer):
        raise TransactionRejected(
            f"the {role}'s signature ({signer}) is missing or does not verify over this transaction"
        )


def _same(got: object, want: object, what: str, against: str) -> None:
    if got != want:
        raise TransactionRejected(f"{what} {got} differs from {against} {want}")


def _show(splits: Sequence[Split]) -> str:
    return "[" + ", ".join(f"{s.recipient}:{s.bps}" for s in splits) + "]"
