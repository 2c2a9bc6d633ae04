"""Persist before you act, seen from the server's side of the wire.

A witness proxy in front of a real `mpp serve` looks at the payer's state directory at the moment
each open credential, voucher credential, topUp credential and metering commit arrives, i.e. after
it left the `mpp` process: the record must already hold it (status `opening` with the same deposit;
a signed watermark at least the voucher's, and for a new high the byte-identical voucher; the
top-up's amount and byte-identical transaction as `pendingTopUp`), and the lock the flow holds (the
per-server open lock, the channel lock) must still be held by `mpp`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from starlette.requests import Request
from starlette.responses import Response

from tests.client.hostile import HostileProxy
from tests.e2e.support import PayerHome, file_payer, served_fixture
from tests.server.harness import ServerProcess

pytestmark = [pytest.mark.slow]


@dataclass
class WitnessProxy(HostileProxy):
    """Forwards everything untouched; first checks the payer's record against what is arriving."""

    home: Path | None = None
    seen: list[str] = field(default_factory=list)
    faults: list[str] = field(default_factory=list)
    top_up_fault: str | None = None  # "lose-reply": forward it, answer 502; "swallow": never forward

    async def _forward(self, request: Request) -> Response:
        body = await request.body()
        before = len(self.seen)
        try:
            self._witness(request, body)
        except Exception as exc:  # a broken check is a fault, never a silently passing test
            self.faults.append(f"witness failed: {type(exc).__name__}: {exc}")
        if self.top_up_fault and "topUp" in self.seen[before:]:
            if self.top_up_fault == "lose-reply":
                await super()._forward(request)
            return Response(b"upstream lost", status_code=502)
        return await super()._forward(request)

    def _witness(self, request: Request, body: bytes) -> None:
        header = request.headers.get("authorization")
        if header:
            from mppcli.protocol.auth import parse_authorization

            payload = parse_authorization(header).payload
            if payload.get("action") == "open":
                self._open(payload)
            elif payload.get("action") == "voucher":
                self._voucher(str(payload["channelId"]), payload["voucher"], "voucher")
            elif payload.get("action") == "topUp":
                self._top_up(payload)
            else:
                self.seen.append(str(payload.get("action")))
        if request.method == "POST" and request.url.path.endswith("/commit"):
            data = json.loads(body)
            voucher = data["voucher"]
            self._voucher(str(voucher["voucher"]["channelId"]), voucher, "commit")

    def _store(self) -> Any:
        from mppcli.paths import resolve_paths
        from mppcli.state.store import ChannelStore

        assert self.home is not None
        return ChannelStore(resolve_paths({"MPP_HOME": str(self.home)}))

    def _open(self, payload: dict[str, Any]) -> None:
        from mppcli.errors import BusyError

        store = self._store()
        record = store.load(str(payload["channelId"]))
        self.seen.append("open")
        if record is None or record.status.value != "opening":
            self.faults.append(f"open left before its record: {record}")
            return
        if record.deposit != int(payload["depositAmount"]):
            self.faults.append(f"open deposits {payload['depositAmount']}, record says {record.deposit}")
        try:
            with store.open_lock(record.payer, record.origin):
                self.faults.append("the open left while no mpp held the open lock")
        except BusyError:
            pass

    def _top_up(self, payload: dict[str, Any]) -> None:
        from mppcli.errors import BusyError

        store = self._store()
        channel = str(payload["channelId"])
        record = store.load(channel)
        self.seen.append("topUp")
        pending = record.pending_top_up if record is not None else None
        if record is None or pending is None:
            self.faults.append(f"topUp left before the record held it: {record}")
            return
        same = pending.transaction == payload["transaction"]
        if pending.amount != int(payload["additionalAmount"]) or not same:
            self.faults.append(f"topUp of {payload['additionalAmount']}: the record holds another one")
        if pending.deposit_before != record.deposit:
            self.faults.append(f"pending from deposit {pending.deposit_before}, record {record.deposit}")
        try:
            with store.lock(channel, purpose="witness"):
                self.faults.append("the topUp left while no mpp held the channel lock")
        except BusyError:
            pass

    def _voucher(self, channel: str, voucher: dict[str, Any], kind: str) -> None:
        from mppcli.errors import BusyError

        store = self._store()
        record = store.load(channel)
        cumulative = int(voucher["voucher"]["cumulativeAmount"])
        self.seen.append(kind)
        if record is None or record.signed_cumulative < cumulative:
            self.faults.append(f"{kind} for {cumulative} left before the record held it: {record}")
            return
        if record.signed_cumulative == cumulative:
            stored = json.loads(record.last_signed_voucher or "{}")
            if stored.get("signature") != voucher["signature"]:
                self.faults.append(f"{kind} for {cumulative}: the record keeps another voucher")
        if cumulative > record.deposit:
            self.faults.append(f"{kind} for {cumulative} is above the deposit {record.deposit}")
        try:
            with store.lock(channel, purpose="witness"):
                self.faults.append(f"{kind} for {cumulative} left while no mpp held the channel lock")
        except BusyError:
            pass


served = served_fixture("--min-deposit", "0.01")


@pytest.fixture
def payer(served: ServerProcess, tmp_path: Path) -> PayerHome:
    return file_payer(tmp_path / "payer", served.chain)


@pytest.fixture
def witness(served: ServerProcess, payer: PayerHome) -> Iterator[WitnessProxy]:
    running = WitnessProxy(served.url, home=payer.home).start()
    yield running
    running.stop()


def test_every_open_voucher_and_commit_is_recorded_under_the_lock_before_it_leaves(
        payer: PayerHome, witness: WitnessProxy) -> None:
    first = payer.mpp("--json", "request", f"{witness.url}/paid", "--signer", "payer", "--yes")
    assert first.exit_code == 0, first
    again = payer.mpp("--json", "request", f"{witness.url}/paid")
    assert again.exit_code == 0, again
    streamed = payer.mpp("--json", "stream", f"{witness.url}/stream?chunks=4")
    assert streamed.exit_code == 0, streamed
    assert witness.seen.count("open") == 1 and witness.seen.count("voucher") >= 3, witness.seen
    # chunks 2-4 go out as one batch with one directive (spent first, then data): one commit pays it
    assert witness.seen.count("commit") >= 1, witness.seen
    topped = payer.mpp("--json", "topup", first.json["channelId"], "0.01", "--yes")
    assert topped.exit_code == 0 and "topUp" in witness.seen, (topped, witness.seen)
    assert witness.faults == []
    after = payer.record(first.json["channelId"])
    assert after["pendingTopUp"] is None and after["deposit"] == topped.json["deposit"], after


def test_a_request_the_deposit_cannot_cover_signs_nothing(payer: PayerHome, witness: WitnessProxy) -> None:
    """Without --max-spend there is no automatic top-up: exit 5, and no voucher above the deposit."""
    opened = payer.mpp("--json", "open", f"{witness.url}/paid", "--signer", "payer", "--yes",
                       "--deposit", "0.01")  # covers exactly one request
    assert opened.exit_code == 0, opened
    channel = opened.json["channelId"]
    assert payer.mpp("--json", "request", f"{witness.url}/paid").exit_code == 0
    refused = payer.mpp("--json", "request", f"{witness.url}/paid")  # no --max-spend: no top-up
    assert refused.exit_code == 5, refused
    record = payer.record(channel)
    assert int(record["signedCumulative"]) == int(record["deposit"]) == 10_000, record
    assert refused.json["error"]["code"] == "E_POLICY", refused
    assert witness.seen.count("voucher") == 1 and witness.faults == [], (witness.seen, witness.faults)


@pytest.mark.parametrize("tamper", ["deposit", "payee"])
def test_a_built_open_that_differs_from_the_plan_is_never_signed_nor_sent(
        tamper: str, payer: PayerHome, witness: WitnessProxy, monkeypatch: pytest.MonkeyPatch) -> None:
    """The real open flow, in process, with a transaction builder that goes wrong after planning:
    txcheck reads the built bytes back and refuses before any signature or record exists."""
    from dataclasses import replace

    from solders.keypair import Keypair

    import mppcli.chain.transactions as transactions
    from mppcli.cli.env import Env
    from mppcli.cli.paying import Who, run_flow
    from mppcli.client.context import PayOptions
    from mppcli.client.http import RequestSpec
    from mppcli.client.resolve import open_for
    from mppcli.errors import InternalError

    honest = transactions.build_open_transaction
    signed: list[object] = []

    def wrong(params, blockhash, fee_payer):  # type: ignore[no-untyped-def]
        changed = {"deposit": params.deposit * 10} if tamper == "deposit" else {"payee": Keypair().pubkey()}
        return honest(replace(params, **changed), blockhash, fee_payer)

    def partial_sign(*args: object) -> None:
        signed.append(args)
        raise AssertionError("signed a transaction txcheck should have refused")

    monkeypatch.setattr(transactions, "build_open_transaction", wrong)
    monkeypatch.setattr("mppcli.chain.txcodec.partial_sign", partial_sign)
    monkeypatch.setenv("MPP_HOME", str(payer.home))
    env = Env.detect(json=True)
    options = PayOptions(signer="payer", yes=True)
    spec = RequestSpec(method="GET", url=f"{witness.url}/paid")
    with pytest.raises(InternalError, match="refusing to sign"):
        run_flow(env, Who(keypair=payer.keypair, url=payer.rpc_url),
                 lambda client: open_for(client, spec, options))
    assert signed == [] and "open" not in witness.seen
    assert not list((payer.home / "state").glob("channels/*.json"))


def test_a_built_top_up_that_differs_from_the_plan_is_never_signed_nor_sent(
        payer: PayerHome, witness: WitnessProxy, monkeypatch: pytest.MonkeyPatch) -> None:
    import mppcli.chain.transactions as transactions
    from mppcli.cli.env import Env
    from mppcli.cli.paying import Who, run_flow
    from mppcli.client.context import PayOptions
    from mppcli.client.topup import top_up
    from mppcli.errors import InternalError

    opened = payer.mpp("--json", "open", f"{witness.url}/paid", "--signer", "payer", "--yes")
    assert opened.exit_code == 0, opened
    channel = opened.json["channelId"]
    honest = transactions.build_top_up_transaction
    signed: list[object] = []

    def wrong(keys, amount, blockhash, fee_payer=None):  # type: ignore[no-untyped-def]
        return honest(keys, amount * 10, blockhash, fee_payer)

    def partial_sign(*args: object) -> None:
        signed.append(args)
        raise AssertionError("signed a top-up txcheck should have refused")

    monkeypatch.setattr(transactions, "build_top_up_transaction", wrong)
    monkeypatch.setattr("mppcli.chain.txcodec.partial_sign", partial_sign)
    monkeypatch.setenv("MPP_HOME", str(payer.home))
    seen_before = list(witness.seen)

    async def flow(client):  # type: ignore[no-untyped-def]
        return await top_up(client, client.store.get(channel), 5_000, PayOptions(signer="payer", yes=True))

    with pytest.raises(InternalError, match="refusing to sign"):
        run_flow(Env.detect(json=True), Who(keypair=payer.keypair, url=payer.rpc_url), flow)
    assert signed == [] and "topUp" not in witness.seen and witness.seen == seen_before
    assert payer.record(channel)["deposit"] == opened.json["deposit"]


@pytest.mark.parametrize("settler", ["show", "sync", "topup"])
@pytest.mark.parametrize("fault", ["lose-reply", "swallow"])
def test_a_top_up_without_receipt_stays_pending_until_the_chain_settles_it(
        fault: str, settler: str, payer: PayerHome, witness: WitnessProxy) -> None:
    """The reply to a topUp is lost (it landed) or the topUp never reached the server (it did not):
    the record keeps it as pending, and the next `mpp channels show`, `mpp channels sync` or
    `mpp topup` settles it from the on-chain deposit."""
    opened = payer.mpp("--json", "open", f"{witness.url}/paid", "--signer", "payer", "--yes",
                       "--deposit", "0.01")
    assert opened.exit_code == 0, opened
    channel, deposit = opened.json["channelId"], int(opened.json["deposit"])
    witness.top_up_fault = fault
    failed = payer.mpp("--json", "topup", channel, "0.02", "--yes")
    witness.top_up_fault = None
    assert failed.exit_code != 0 and witness.seen.count("topUp") == 1, (failed, witness.seen)
    pending = payer.record(channel)["pendingTopUp"]
    assert pending is not None and pending["amount"] == "20000", pending
    assert pending["depositBefore"] == str(deposit), pending
    expected = deposit + 20_000 if fault == "lose-reply" else deposit
    if settler == "show":
        shown = payer.mpp("--json", "channels", "show", channel, "-u", payer.rpc_url)
        assert shown.exit_code == 0 and shown.json["chain"]["deposit"] == str(expected), shown
        assert shown.json["pendingTopUp"] is None and shown.json["deposit"] == str(expected), shown.json
        said = shown.stderr
    elif settler == "sync":
        synced = payer.mpp("--json", "channels", "sync", channel)
        assert synced.exit_code == 0, synced
        assert synced.json["channels"][0]["after"]["deposit"] == str(expected), synced.json
        said = synced.stderr
    else:
        again = payer.mpp("--json", "topup", channel, "0.005", "--yes")
        assert again.exit_code == 0 and witness.seen.count("topUp") == 2, (again, witness.seen)
        expected += 5_000
        assert again.json["deposit"] == str(expected), again.json
        said = again.stderr
    assert ("landed" if fault == "lose-reply" else "did not land") in said, said
    stored = payer.record(channel)
    assert stored["pendingTopUp"] is None and stored["deposit"] == str(expected), stored
    assert witness.faults == []


def test_an_automatic_top_up_is_recorded_before_it_leaves(payer: PayerHome, witness: WitnessProxy) -> None:
    opened = payer.mpp("--json", "open", f"{witness.url}/paid", "--signer", "payer", "--yes",
                       "--deposit", "0.01")  # covers exactly one request
    assert opened.exit_code == 0, opened
    channel = opened.json["channelId"]
    assert payer.mpp("--json", "request", f"{witness.url}/paid").exit_code == 0
    topped = payer.mpp("--json", "request", f"{witness.url}/paid", "--max-spend", "1")
    assert topped.exit_code == 0, topped
    assert witness.seen.count("topUp") == 1 and witness.faults == [], (witness.seen, witness.faults)
    record = payer.record(channel)
    assert record["pendingTopUp"] is None and int(record["deposit"]) > 10_000, record
