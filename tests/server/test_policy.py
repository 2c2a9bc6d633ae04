"""`authorizationPolicy` in an open (issue #10 item 7): consistent with `authorizedSigner` or refused
before anything is broadcast; kept with the channel's state when accepted."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from solders.keypair import Keypair

from tests.server.harness import ServerProcess
from tests.server.payer import Payer, problem_of, receipt_of

DEPOSIT = 1_000_000


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    home = tmp_path_factory.mktemp("serve")
    running = ServerProcess.start(home / "home", "--ephemeral", "--db", str(home / "server.db"))
    yield running
    running.stop()


def _stored_body(server: ServerProcess, channel_id: str) -> dict[str, object]:
    db = Path(server.args[server.args.index("--db") + 1])
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        row = conn.execute("SELECT body FROM channels WHERE channel_id = ?", (channel_id,)).fetchone()
    return dict(json.loads(row[0]))


@pytest.mark.parametrize(
    "policy",
    [
        {"signer": str(Keypair().pubkey())},
        {"authorizedSigner": str(Keypair().pubkey())},
        {"signers": [str(Keypair().pubkey())]},
        {"voucherSigner": "operator"},
        {"note": "x" * 3000},
    ],
)
def test_an_inconsistent_authorization_policy_is_refused_before_broadcast(
    payer: Payer, policy: dict[str, object]
) -> None:
    problem = problem_of(payer.open(DEPOSIT, mutate=lambda p: p.update(authorizationPolicy=policy)))
    assert problem.name == "verification-failed" and "authorizationPolicy" in problem.detail
    assert payer.chain.token_balance(payer.pubkey, payer.server.ready["mint"]) == payer.funds


def test_a_consistent_authorization_policy_is_stored_with_the_channel(payer: Payer) -> None:
    signer = str(payer.signer.pubkey())
    policy = {"signer": signer, "signers": [signer], "voucherSigner": "client", "maxPerVoucher": "5000"}
    response = payer.open(DEPOSIT, mutate=lambda p: p.update(authorizationPolicy=policy))
    receipt_of(response)
    extra = _stored_body(payer.server, str(payer.channel_id))["extra"]
    assert isinstance(extra, dict) and extra["authorizationPolicy"] == policy


def test_an_open_without_a_policy_stores_none(payer: Payer) -> None:
    receipt_of(payer.open(DEPOSIT))
    extra = _stored_body(payer.server, str(payer.channel_id))["extra"]
    assert isinstance(extra, dict) and "authorizationPolicy" not in extra
