"""Where the spec and the reference implementation differ, our server follows the spec as long as
a reference client still works (NOTES.md). Each choice is a test named `test_spec_choice_*`; the
ones that belong to a flow live next to it (test_open, test_voucher, test_topup_close,
test_lifecycle, test_operator). Reference clients working against these choices is
test_reference_client.py."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from mppcli.protocol.auth import new_challenge
from mppcli.server.clock import FOLLOW_LEDGER, TEST_CLOCK_VARIABLE
from tests.server.harness import ServerProcess
from tests.server.payer import Payer, problem_of, receipt_of
from tests.server.stream_client import reserve
from tests.server.test_open import secret_of

PRICE, CHUNK = 10_000, 1_000


def test_spec_choice_problem_types_are_the_specs_with_the_reference_codes_beside(opened: Payer) -> None:
    response = opened.pay(3 * PRICE)
    body = response.json()
    assert body["type"] == "https://paymentauth.org/problems/verification-failed"
    assert body["status"] == 402 and body["detail"] == body["message"]
    assert body["code"] == body["error"] == "payment_invalid"  # what reference clients read


def test_spec_choice_receipts_are_cache_control_private_and_402s_no_store(opened: Payer) -> None:
    paid = opened.pay(PRICE)
    assert paid.headers["cache-control"] == "private" and "payment-receipt" in paid.headers
    refused = opened.pay(PRICE)
    assert refused.headers["cache-control"] == "no-store" and "payment-receipt" not in refused.headers


def test_spec_choice_expired_challenge_is_refused_for_vouchers_too(opened: Payer) -> None:
    """The reference checks expiry only on open; the core scheme refuses any expired challenge."""
    fresh, _ = opened.challenge()
    expired = new_challenge(
        secret_of(opened.server),
        realm=fresh.realm,
        method=fresh.method,
        intent=fresh.intent,
        request=fresh.decoded_request(),
        expires="2020-01-01T00:00:00.000Z",
        opaque={"route": "/paid"},
    )
    problem = problem_of(opened.pay(PRICE, challenge=expired))
    assert problem.name == "invalid-challenge" and problem.code == "challenge_expired"
    assert receipt_of(opened.pay(PRICE, challenge=fresh)).spent == PRICE


@pytest.fixture
def warpable(tmp_path: Path) -> Iterator[Payer]:
    """A payer on its own server whose clock follows its embedded ledger's (`mppcli.server.clock`),
    so `mpp_warp` moves the server's time too: no sleeping until the wall clock gets there."""
    server = ServerProcess.start(tmp_path / "home", "--ephemeral", env={TEST_CLOCK_VARIABLE: FOLLOW_LEDGER})
    yield Payer(server)
    server.stop()


def test_spec_choice_expired_reservations_release_capacity(warpable: Payer) -> None:
    """The reference keeps metered reservations forever; ours expire and free the deposit."""
    payer = warpable
    assert payer.open(100_000).status_code == 200
    first = reserve(payer, 100_000, "first", expires_at=int(time.time()) + 200)
    assert first.status_code == 200, first.text
    blocked = reserve(payer, CHUNK, "blocked")
    assert blocked.status_code == 400 and "exceeds available deposit" in blocked.json()["error"]
    # The server's clock (the ledger's, never behind the wall clock) passes `first`'s expiry; the
    # jump stays within the channel's idle timeout (600 s), so only the reservation lapses.
    now = int(payer.chain.warp(seconds=250)["unixTimestamp"])
    late = httpx.post(
        payer.server.url + "/__402/session/commit",
        json={"deliveryId": first.json()["deliveryId"], "voucher": payer.voucher(CHUNK).to_json()},
    )
    assert late.status_code == 400 and "expired" in late.json()["error"], late.text
    freed = reserve(payer, CHUNK, "freed", expires_at=now + 60)
    assert freed.status_code == 200, freed.text


def test_spec_choice_voucher_on_a_new_channel_challenge_still_works(opened: Payer) -> None:
    """The reference issues only new-channel challenges and clients echo them for every action:
    we offer resume challenges too, but keep accepting vouchers that echo a new-channel one."""
    challenge, request = opened.challenge()
    assert request.method_details.channel_id is None
    assert receipt_of(opened.pay(PRICE, challenge=challenge)).spent == PRICE
