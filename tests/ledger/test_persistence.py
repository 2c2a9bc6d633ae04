"""A ledger directory keeps the chain: restart and continue (channels, history, clock); one ledger
per directory at a time."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from mppcli.chain.channel import ChannelStatus
from mppcli.chain.instructions import distribute_instruction, settle_and_seal_instruction
from mppcli.errors import BusyError
from mppcli.ledger.runner import RunningLedger, start_ledger
from mppcli.rpc import TransactionRejected
from tests.ledger.harness import Chain, voucher


def _restarted(directory: Path) -> tuple[RunningLedger, Chain]:
    running = start_ledger(directory, 0)
    return running, Chain(running.rpc_url, running.mint)


def test_a_restart_continues_the_same_chain(tmp_path: Path) -> None:
    running, chain = _restarted(tmp_path / "chain")
    try:
        genesis = running.genesis_hash
        opened = chain.open_channel()
        open_tx = chain.run(chain.rpc.transaction_status(opened.signature))
        slot_before = chain.slot()
        raw_open = chain.call("getTransaction", [opened.signature, {"encoding": "base64",
                                                                    "maxSupportedTransactionVersion": 0}])
    finally:
        chain.close()
        running.stop()

    running, chain = _restarted(tmp_path / "chain")
    try:
        assert running.genesis_hash == genesis
        assert chain.slot() >= slot_before
        assert chain.run(chain.rpc.transaction_status(opened.signature)) == open_tx
        channel = chain.channel(opened.channel)
        assert channel is not None and channel.status == ChannelStatus.OPEN and channel.deposit == 1_000_000
        replay = base64.b64decode(raw_open["transaction"][0])
        with pytest.raises(TransactionRejected) as again:
            chain.run(chain.rpc.send_transaction(replay))
        assert again.value.err == "AlreadyProcessed"  # the history survived (the restart took < 150 slots)
        chain.submit([voucher(opened.session, opened.channel, 400_000),
                      settle_and_seal_instruction(opened.keys, has_voucher=True),
                      distribute_instruction(opened.keys)], opened.operator)
        assert chain.tokens(opened.payer.pubkey()) == 600_000
    finally:
        chain.close()
        running.stop()


def test_the_clock_and_its_warps_survive_a_restart(tmp_path: Path) -> None:
    running, chain = _restarted(tmp_path)
    try:
        slot, unix = chain.warp(slots=5000, seconds=7200)
    finally:
        chain.close()
        running.stop()
    running, chain = _restarted(tmp_path)
    try:
        assert chain.slot() >= slot
        assert chain.unix_time() >= unix
    finally:
        chain.close()
        running.stop()


def test_one_ledger_per_directory(tmp_path: Path) -> None:
    first = start_ledger(tmp_path, 0)
    try:
        with pytest.raises(BusyError) as busy:
            start_ledger(tmp_path, 0)
        assert str(tmp_path) in busy.value.message
    finally:
        first.stop()
    second = start_ledger(tmp_path, 0)  # free again once the first stopped
    second.stop()


def test_ephemeral_ledgers_are_new_chains() -> None:
    first = start_ledger(None, 0)
    second = start_ledger(None, 0)
    try:
        assert first.genesis_hash != second.genesis_hash
        assert first.mint == second.mint  # the test stablecoin lives at one address on every localnet
    finally:
        first.stop()
        second.stop()
