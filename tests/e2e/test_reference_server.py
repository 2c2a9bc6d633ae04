"""The real `mpp` commands against the reference implementation's server (solana-pay-kit 0.10.0).

The reference session server runs under its own venv (tests/interop/refkit/server.py), its RPC
pointed at our embedded ledger. `mpp open`, `request`, `stream` (both of its metering shapes: one
reservation for the whole stream, and one directive per chunk), `topup` (the reference wants a
top-up the payer signed and pays for) and `close` (the byte-identical last voucher) must all
succeed, and the ledger must show the operator paid exactly what the reference accepted.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.support import PayerHome, wallet_payer
from tests.interop.conftest import ledger, ref_python, refkit
from tests.interop.refkit_runner import RefKit, RefServer, new_operator
from tests.interop.samples import pubkey_of
from tests.server.harness import Chain
from tests.wallet.keyring_support import real_keyring

pytestmark = [pytest.mark.slow, pytest.mark.reference, pytest.mark.keyring,
              pytest.mark.usefixtures("real_keyring")]
__all__ = ["ledger", "real_keyring", "ref_python", "refkit"]

PRICE, CHUNK, DEPOSIT = 100, 10, 1_000_000


@pytest.fixture
def operator(ledger: Any) -> str:
    return new_operator(ledger)


@pytest.fixture
def reference(refkit: RefKit, ledger: Any, operator: str) -> Iterator[RefServer]:
    with refkit.demo_server(ledger, PRICE, CHUNK, DEPOSIT, operator) as running:
        yield running


@pytest.fixture
def payer(ledger: Any, tmp_path: Path) -> PayerHome:
    return wallet_payer(tmp_path / "payer", Chain(ledger.rpc_url))


def _state(server: RefServer, channel: str) -> dict[str, Any]:
    answer: dict[str, Any] = httpx.get(f"{server.url}/__refkit/channels/{channel}", timeout=10).json()
    return answer


def test_open_request_stream_topup_close_against_the_reference_server(
        reference: RefServer, payer: PayerHome, ledger: Any, operator: str) -> None:
    chain, mint = Chain(ledger.rpc_url), str(ledger.mint)
    payee = pubkey_of(operator)
    payer_before, payee_before = chain.token_balance(payer.pubkey, mint), chain.token_balance(payee, mint)

    opened = payer.mpp("--json", "open", f"{reference.url}/paid", "--yes")
    assert opened.exit_code == 0, opened
    channel = opened.json["channelId"]
    assert opened.json["deposit"] == str(DEPOSIT)

    for n in (1, 2):
        run = payer.mpp("--json", "request", f"{reference.url}/paid")
        assert run.exit_code == 0, run
        assert run.json["cumulative"] == str(n * PRICE)

    whole = payer.mpp("--json", "stream", f"{reference.url}/stream?chunks=4")  # one reservation
    assert whole.exit_code == 0, whole
    per_chunk = payer.mpp("--json", "stream", f"{reference.url}/stream?chunks=3&meter=chunk")
    assert per_chunk.exit_code == 0, per_chunk
    expected = 2 * PRICE + (PRICE + 4 * CHUNK) + (PRICE + 3 * CHUNK)
    assert per_chunk.json["cumulative"] == str(expected)
    assert _state(reference, channel)["cumulative"] == expected

    topped = payer.mpp("--json", "topup", channel, "0.5", "--yes")
    assert topped.exit_code == 0, topped
    assert topped.json["deposit"] == str(DEPOSIT + 500_000) and topped.json["sponsored"] is False
    assert _state(reference, channel)["deposit"] == DEPOSIT + 500_000

    closed = payer.mpp("--json", "close", channel)
    assert closed.exit_code == 0, closed
    assert (closed.json["settled"], closed.json["refunded"]) == (str(expected),
                                                                str(DEPOSIT + 500_000 - expected))
    assert _state(reference, channel)["sealed"] is True
    assert chain.token_balance(payee, mint) - payee_before == expected
    assert payer_before - chain.token_balance(payer.pubkey, mint) == expected
    record = payer.record(channel)
    assert (record["status"], record["settled"]) == ("closed", str(expected))
