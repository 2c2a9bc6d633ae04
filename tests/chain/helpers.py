"""Builders for chain tests: a consistent open (challenge terms, payload claim, transaction)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from solders.hash import Hash
from solders.keypair import Keypair
from solders.pubkey import Pubkey
from solders.transaction import VersionedTransaction

from mppcli.chain.constants import PROGRAM_ID, TOKEN_PROGRAM
from mppcli.chain.params import OpenParams
from mppcli.chain.splits import Split
from mppcli.chain.transactions import build_open_transaction
from mppcli.chain.txcodec import encode_transaction, partial_sign
from mppcli.chain.verify import OpenClaim, OpenExpectations, OpenTerms

RECENT_SLOT = 352_114_093


def seeded(n: int) -> Keypair:
    """Deterministic keypairs, so failures reproduce."""
    return Keypair.from_seed(bytes([n]) * 32)


@dataclass(frozen=True)
class OpenCase:
    payer: Keypair
    operator: Keypair
    signer: Keypair
    payee: Pubkey
    mint: Pubkey
    blockhash: Hash
    params: OpenParams
    sponsored: bool

    @property
    def fee_payer(self) -> Pubkey:
        return self.operator.pubkey() if self.sponsored else self.payer.pubkey()

    def terms(self, **changes: object) -> OpenTerms:
        base = OpenTerms(program_id=PROGRAM_ID, recipient=self.payee, mint=self.mint,
                         recent_blockhash=self.blockhash, recent_slot=RECENT_SLOT,
                         grace_period=self.params.grace_period, splits=self.params.splits,
                         token_program=self.params.token_program,
                         fee_payer=self.operator.pubkey() if self.sponsored else None,
                         minimum_deposit=1_000)
        return dataclasses.replace(base, **changes)  # type: ignore[arg-type]

    def claim(self, **changes: object) -> OpenClaim:
        p = self.params
        base = OpenClaim(channel_id=p.channel, payer=p.payer, payee=p.payee, mint=p.mint,
                         authorized_signer=p.authorized_signer, salt=p.salt, deposit_amount=p.deposit,
                         grace_period=p.grace_period, open_slot=p.open_slot,
                         splits=p.splits or None)
        return dataclasses.replace(base, **changes)  # type: ignore[arg-type]

    def expectations(self, current_slot: int | None = RECENT_SLOT + 2, **terms: object) -> OpenExpectations:
        return OpenExpectations(self.terms(**terms), self.claim(), current_slot=current_slot)

    def unsigned(self, params: OpenParams | None = None) -> VersionedTransaction:
        return build_open_transaction(params or self.params, self.blockhash,
                                      self.fee_payer if self.sponsored else None)

    def signed(self, params: OpenParams | None = None) -> VersionedTransaction:
        return partial_sign(self.unsigned(params), [self.payer])

    def wire(self) -> str:
        return encode_transaction(self.signed())


def open_case(sponsored: bool = True, splits: tuple[Split, ...] = (), token_program: Pubkey = TOKEN_PROGRAM,
              deposit: int = 1_000_000, mint: Pubkey | None = None) -> OpenCase:
    payer, operator, signer = seeded(1), seeded(2), seeded(3)
    payee, mint = seeded(4).pubkey(), mint or seeded(5).pubkey()
    blockhash = Hash(bytes(range(32)))
    fee_payer = operator.pubkey() if sponsored else payer.pubkey()
    params = OpenParams(payer=payer.pubkey(), payee=payee, mint=mint, authorized_signer=signer.pubkey(),
                        salt=42, deposit=deposit, grace_period=900, open_slot=RECENT_SLOT,
                        rent_payer=fee_payer, token_program=token_program, splits=splits)
    return OpenCase(payer, operator, signer, payee, mint, blockhash, params, sponsored)
