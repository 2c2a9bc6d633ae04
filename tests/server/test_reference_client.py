"""The reference implementation's client (solana-pay-kit 0.10.0, its own venv) against `mpp serve`:
open -> paid requests -> metered stream -> payer-paid top-up -> close, with balances checked on the
embedded ledger. Runs the interop driver tests/interop/refkit/client.py (skips without the
reference venv, like every reference test)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from solders.keypair import Keypair

from tests.interop.conftest import _ref_python_path
from tests.interop.refkit_runner import RefKit
from tests.server.harness import ServerProcess

PRICE, CHUNK, DEPOSIT, FUNDS = 10_000, 1_000, 1_000_000, 5_000_000


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    running = ServerProcess.start(
        tmp_path_factory.mktemp("serve") / "home", "--ephemeral", "--stream-pause", "1"
    )
    yield running
    running.stop()


@pytest.fixture(scope="module")
def refkit(tmp_path_factory: pytest.TempPathFactory) -> RefKit:
    """The interop drivers under the reference venv's python (skip when there is none)."""
    python = _ref_python_path()
    if python is None or not python.exists():
        pytest.skip("no reference implementation venv (set MPP_REF_PYTHON; scripts/test creates .ref/)")
    return RefKit(python, tmp_path_factory.mktemp("refkit-cwd"))


def _payer(server: ServerProcess) -> Keypair:
    payer = Keypair()
    server.chain.mint_tokens(str(payer.pubkey()), FUNDS)
    server.chain.airdrop(str(payer.pubkey()), 100_000_000)  # a payer-paid top-up needs SOL for its fee
    return payer


def test_reference_client_completes_a_session_against_mpp_serve(
    server: ServerProcess, refkit: RefKit
) -> None:
    payer = _payer(server)
    mint, recipient = server.ready["mint"], server.ready["recipient"]
    payee_before = server.chain.token_balance(recipient, mint)
    answer = refkit.ok(
        "client.py",
        {
            "url": server.url,
            "payerSecret": str(payer),
            "paidPath": "/paid",
            "requests": 3,
            "streamPath": "/stream?chunks=5",
            "streams": 1,
            "streamCommit": "each",
            "topUp": {"amount": "200000"},
            "rpcUrl": server.ready["rpcUrl"],
            "close": True,
        },
        timeout=240,
    )
    spent = 3 * PRICE + 5 * CHUNK
    assert int(answer["cumulative"]) == spent, answer
    stream = answer["streams"][0]  # one commit per directive: the whole stream, paid as it came
    assert [m["chunk"] for m in stream["messages"]] == [1, 2, 3, 4, 5], stream
    assert all(c["status"] == "committed" for c in stream["commits"]) and stream["commits"], stream
    assert [s["status"] for s in answer["steps"]] == [200] * len(answer["steps"])
    closing = answer["steps"][-1]["receipt"]
    assert closing["txHash"] and int(closing["refunded"]) == DEPOSIT + 200_000 - spent
    assert server.chain.token_balance(recipient, mint) - payee_before == spent
    assert server.chain.token_balance(str(payer.pubkey()), mint) == FUNDS - spent


def test_reference_whole_stream_consumer_gets_and_pays_a_50_chunk_stream(
    server: ServerProcess, refkit: RefKit
) -> None:
    """The reference's stock MeteredSseStream commits once, after [DONE], for the latest directive
    (with the final usage's amount): the default credit window lets it receive all 50 chunks, and
    the usage names everything the stream delivered unvouched, so that one commit pays it all."""
    payer = _payer(server)
    answer = refkit.ok(
        "client.py",
        {
            "url": server.url,
            "payerSecret": str(payer),
            "requests": 1,
            "streamPath": "/stream?chunks=50",
            "streams": 1,
            "streamCommit": "end",
            "close": True,
        },
        timeout=240,
    )
    stream = answer["streams"][0]
    assert [m["chunk"] for m in stream["messages"]] == list(range(1, 51)), stream
    assert "mpp.payment-required" not in stream["events"] and "error" not in stream, stream
    assert [c["status"] for c in stream["commits"]] == ["committed"], stream
    assert int(answer["cumulative"]) == PRICE + 50 * CHUNK
    assert int(answer["steps"][-1]["receipt"]["refunded"]) == DEPOSIT - PRICE - 50 * CHUNK
