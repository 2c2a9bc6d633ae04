"""Distribution splits end to end: challenged, committed at open, paid out by the close bundle."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import pytest
from solders.keypair import Keypair
from solders.pubkey import Pubkey

from mppcli.chain.splits import Split, splits_hash
from tests.server.harness import ServerProcess
from tests.server.payer import Payer, problem_of, receipt_of

SHARES = (1000, 500, 2500, 1, 1, 1, 1, 1, 1)  # nine co-recipients: more than the reference's 8
RECIPIENTS = [str(Keypair().pubkey()) for _ in SHARES]
PRICE, DEPOSIT = 10_000, 1_000_000


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    running = ServerProcess.with_splits(tmp_path_factory.mktemp("serve") / "home", RECIPIENTS, SHARES)
    yield running
    running.stop()


def test_spec_choice_nine_splits_are_challenged_committed_and_paid(payer: Payer) -> None:
    _, request = payer.challenge()
    offered = [(s.recipient, s.share_bps) for s in request.method_details.splits]
    assert offered == list(zip(RECIPIENTS, SHARES, strict=True))
    assert payer.open(DEPOSIT).status_code == 200
    for n in range(1, 8):
        assert payer.pay(n * PRICE).status_code == 200
    settled = 7 * PRICE
    mint, payee = payer.server.ready["mint"], payer.server.ready["recipient"]
    payee_before = payer.chain.token_balance(payee, mint)
    assert receipt_of(payer.close()).refunded == DEPOSIT - settled
    paid = [payer.chain.token_balance(r, mint) for r in RECIPIENTS]
    assert paid == [settled * bps // 10_000 for bps in SHARES]
    payee_share = settled * (10_000 - sum(SHARES)) // 10_000
    assert payer.chain.token_balance(payee, mint) - payee_before == payee_share
    assert payer.chain.token_balance(payer.pubkey, mint) == payer.funds - settled


def test_an_open_that_omits_the_optional_splits_commits_the_challenges(payer: Payer) -> None:
    """Spec: `distributionSplits` is OPTIONAL in an open; the transaction must commit the challenge's."""
    challenge, request = payer.challenge()
    salt = 4242
    bare = dataclasses.replace(payer.open_params(request, DEPOSIT, salt), splits=())
    wrong = payer.open_payload(challenge, request, DEPOSIT, salt=salt, tx_params=bare)
    wrong.pop("distributionSplits")
    problem = problem_of(payer.send(wrong, challenge))
    assert problem.name == "verification-failed" and "distribution" in problem.detail
    response = payer.open(DEPOSIT, mutate=lambda p: p.pop("distributionSplits"))
    assert response.status_code == 200, response.text
    committed = tuple(Split(Pubkey.from_string(r), bps) for r, bps in zip(RECIPIENTS, SHARES, strict=True))
    assert payer.chain.channel(str(payer.channel_id)).distribution_hash == splits_hash(committed)
