"""Many clients posting vouchers for one channel at once: per-channel serialization means exactly
the expected cumulative, with no debit lost or doubled."""

from __future__ import annotations

import asyncio
import random

import httpx

from mppcli.protocol.auth import Credential, format_authorization
from tests.server.payer import Payer, receipt_of

PRICE = 10_000


def _auth(payer: Payer, challenge, cumulative: int) -> str:  # type: ignore[no-untyped-def]
    return format_authorization(Credential(challenge, payer.voucher_payload(payer.voucher(cumulative))))


async def _post_until_accepted(http: httpx.AsyncClient, url: str, auth: str) -> tuple[int, int]:
    """Retry one voucher until the server accepts it (it can only once its predecessor is in)."""
    attempts = 0
    while True:
        attempts += 1
        response = await http.get(url, headers={"Authorization": auth})
        if response.status_code == 200:
            return receipt_of(response).accepted_cumulative or 0, attempts
        assert response.status_code == 402, response.text
        await asyncio.sleep(random.uniform(0.001, 0.01))


def test_many_clients_racing_vouchers_reach_exactly_the_expected_cumulative(opened: Payer) -> None:
    clients = 30
    challenge, _ = opened.challenge()
    auths = [_auth(opened, challenge, k * PRICE) for k in range(1, clients + 1)]
    random.shuffle(auths)

    async def race() -> list[tuple[int, int]]:
        limits = httpx.Limits(max_connections=clients)
        async with httpx.AsyncClient(timeout=60, limits=limits) as http:
            return await asyncio.gather(
                *(_post_until_accepted(http, opened.server.url + "/paid", a) for a in auths)
            )

    results = asyncio.run(race())
    accepted = sorted(cumulative for cumulative, _ in results)
    assert accepted == [k * PRICE for k in range(1, clients + 1)]  # each accepted exactly once, in order
    final = receipt_of(opened.pay((clients + 1) * PRICE))
    assert final.accepted_cumulative == final.spent == (clients + 1) * PRICE


def test_the_same_voucher_posted_concurrently_is_accepted_once(opened: Payer) -> None:
    challenge, _ = opened.challenge()
    auth = _auth(opened, challenge, PRICE)

    async def burst() -> list[int]:
        async with httpx.AsyncClient(timeout=60) as http:
            answers = await asyncio.gather(
                *(http.get(opened.server.url + "/paid", headers={"Authorization": auth}) for _ in range(20))
            )
        return [a.status_code for a in answers]

    statuses = asyncio.run(burst())
    assert statuses.count(200) == 1 and statuses.count(402) == 19
    assert receipt_of(opened.pay(2 * PRICE)).spent == 2 * PRICE


def test_concurrent_retries_with_one_idempotency_key_debit_once(opened: Payer) -> None:
    challenge, _ = opened.challenge()
    auth = _auth(opened, challenge, PRICE)
    headers = {"Authorization": auth, "Idempotency-Key": "same-request"}

    async def burst() -> list[httpx.Response]:
        async with httpx.AsyncClient(timeout=60) as http:
            return list(
                await asyncio.gather(
                    *(http.get(opened.server.url + "/paid", headers=headers) for _ in range(20))
                )
            )

    answers = asyncio.run(burst())
    assert {a.status_code for a in answers} == {200}
    assert len({a.headers["payment-receipt"] for a in answers}) == 1
    assert receipt_of(opened.pay(2 * PRICE)).spent == 2 * PRICE


def test_channels_do_not_block_each_other(server) -> None:  # type: ignore[no-untyped-def]
    payers = [Payer(server) for _ in range(5)]
    for p in payers:
        assert p.open().status_code == 200
    challenges = [p.challenge()[0] for p in payers]

    async def spend() -> None:
        async with httpx.AsyncClient(timeout=60) as http:

            async def one(p: Payer, c) -> None:  # type: ignore[no-untyped-def]
                for k in range(1, 11):
                    r = await http.get(
                        server.url + "/paid", headers={"Authorization": _auth(p, c, k * PRICE)}
                    )
                    assert r.status_code == 200, r.text

            await asyncio.gather(*(one(p, c) for p, c in zip(payers, challenges, strict=True)))

    asyncio.run(spend())
    for p in payers:
        assert receipt_of(p.pay(11 * PRICE)).spent == 11 * PRICE
