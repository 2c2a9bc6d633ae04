"""#10 item 13: a close bundle larger than one packet goes out as v0 with an address lookup table.

Sixteen splits: the open (v0, no table, as the spec requires) still fits a packet, the legacy close
bundle (~1780 bytes) does not, and the embedded ledger refuses oversize transactions as a cluster
does. So the server builds a lookup table once, settles through it, and reuses it for the next
channel; every recipient is paid.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from solders.keypair import Keypair

from mppcli.chain.lookup_tables import ADDRESS_LOOKUP_TABLE_PROGRAM
from tests.server.harness import ServerProcess
from tests.server.payer import Payer, receipt_of

SHARES = tuple(100 + i for i in range(16))
RECIPIENTS = [str(Keypair().pubkey()) for _ in SHARES]
PRICE, DEPOSIT = 10_000, 1_000_000


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    running = ServerProcess.with_splits(tmp_path_factory.mktemp("serve") / "home", RECIPIENTS, SHARES)
    yield running
    running.stop()


def _pay_and_close(payer: Payer, vouchers: int) -> str:
    assert payer.open(DEPOSIT).status_code == 200
    for n in range(1, vouchers + 1):
        assert payer.pay(n * PRICE).status_code == 200
    assert receipt_of(payer.close()).refunded == DEPOSIT - vouchers * PRICE
    closed = re.search(rf"closed channel {payer.channel_id} .* tx=(\w+)", payer.server.log())
    assert closed is not None, payer.server.log()
    return closed.group(1)


def _tables(payer: Payer) -> list[str]:
    program = str(ADDRESS_LOOKUP_TABLE_PROGRAM)
    found = payer.chain.call("getProgramAccounts", [program, {"encoding": "base64"}])
    return [item["pubkey"] for item in found]


def test_sixteen_splits_close_through_a_lookup_table_and_pay_everyone(server: ServerProcess) -> None:
    mint = server.ready["mint"]
    first = Payer(server)
    signature = _pay_and_close(first, 3)
    paid = [first.chain.token_balance(r, mint) for r in RECIPIENTS]
    assert paid == [3 * PRICE * bps // 10_000 for bps in SHARES]
    assert all(paid)
    landed = first.chain.call("getTransaction", [signature, {"encoding": "json",
                                                             "maxSupportedTransactionVersion": 0}])
    assert landed["version"] == 0 and landed["meta"]["err"] is None
    lookups = landed["transaction"]["message"]["addressTableLookups"]
    assert len(lookups) == 1 and _tables(first) == [lookups[0]["accountKey"]]
    assert "settling in a v0 transaction with lookup table" in server.log()

    second = Payer(server)  # the next channel with the same splits reuses the table
    _pay_and_close(second, 5)
    assert [second.chain.token_balance(r, mint) for r in RECIPIENTS] == [
        (3 + 5) * PRICE * bps // 10_000 for bps in SHARES]
    assert _tables(second) == [lookups[0]["accountKey"]]
