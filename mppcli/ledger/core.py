"""The ledger: one chain's state and every operation the JSON-RPC server offers on it.

All methods take the ledger's lock, so the ledger may be shared between threads, but it does its
work on the caller's thread (the RPC server calls it from its event loop; nothing runs in the
background).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from solders.account import Account
from solders.hash import Hash
from solders.instruction import Instruction
from solders.message import Message
from solders.pubkey import Pubkey
from solders.signature import Signature
from solders.system_program import TransferParams, transfer
from solders.transaction import VersionedTransaction

from mppcli.chain.pda import associated_token_address
from mppcli.ledger import admission, genesis, spl
from mppcli.ledger.blockhash import MAX_BLOCKHASH_AGE, BlockhashWindow
from mppcli.ledger.clock import ChainTime, ClockAnchor, LedgerClock
from mppcli.ledger.errors import TransactionFailed, TxErr
from mppcli.ledger.executor import Journal, ModelledProgram, run_instructions
from mppcli.ledger.fees import transaction_fee
from mppcli.ledger.store import LedgerStore, TxRecord
from mppcli.ledger.svm import EXECUTOR, Svm
from mppcli.ledger.txview import LookupClock, TxView, decode_transaction

SYSVAR_OWNER = Pubkey.from_string("Sysvar1111111111111111111111111111111111111")


@dataclass(frozen=True)
class LedgerInfo:
    """What a client needs to know about this chain (the `mpp localnet --json` ready line)."""

    genesis_hash: str
    mint: str
    decimals: int
    token_program: str
    symbol: str = genesis.TEST_MINT_SYMBOL
    network: str = genesis.NETWORK

    def to_json(self) -> dict[str, object]:
        return {"network": self.network, "genesisHash": self.genesis_hash, "mint": self.mint,
                "decimals": self.decimals, "tokenProgram": self.token_program, "symbol": self.symbol}


@dataclass(frozen=True)
class Executed:
    """The result of running (or simulating) a transaction."""

    signature: str
    err: TxErr | None
    logs: list[str]
    units: int


def default_programs() -> dict[Pubkey, ModelledProgram]:
    """The programs this ledger models in Python (the channel program)."""
    from mppcli.ledger.program.channel_program import channel_program

    return channel_program()


class Ledger:
    """A LiteSVM-backed localnet chain with persistence, a clock and a faucet."""

    def __init__(self, store: LedgerStore, svm: Svm, clock: LedgerClock, genesis_hash: Hash,
                 programs: Mapping[Pubkey, ModelledProgram]) -> None:
        self._store = store
        self._svm = svm
        self._clock = clock
        self._genesis_hash = genesis_hash
        self._programs = dict(programs)
        self._window = BlockhashWindow(genesis_hash)
        self._lock = threading.RLock()
        self._listeners: list[Callable[[int, Mapping[Pubkey, Account | None]], None]] = []

    def on_commit(self, listener: Callable[[int, Mapping[Pubkey, Account | None]], None]) -> None:
        """Call `listener(slot, changed accounts)` after every landed transaction, in commit order,
        on the committing thread with the ledger's lock held (it must be quick and not re-enter)."""
        with self._lock:
            self._listeners.append(listener)

    # --- lifecycle -------------------------------------------------------------------------------
    @classmethod
    def open(cls, directory: Path | None, speed: float = 1.0,
             programs: Mapping[Pubkey, ModelledProgram] | None = None) -> Ledger:
        """Load the chain kept in `directory` (creating it at genesis), or a throwaway one for None."""
        store = LedgerStore.open(directory)
        meta = store.meta()
        svm = Svm()
        chosen = default_programs() if programs is None else programs
        if "genesisHash" not in meta:
            return cls._genesis(store, svm, speed, chosen)
        for key, account in store.accounts():
            svm.put(key, account)
        clock = LedgerClock(ClockAnchor.from_json(meta["clock"]), float(meta.get("speed", 1.0)))
        clock.reanchor(speed)
        ledger = cls(store, svm, clock, Hash.from_string(meta["genesisHash"]), chosen)
        ledger._save_clock(speed)
        return ledger

    @classmethod
    def _genesis(cls, store: LedgerStore, svm: Svm, speed: float,
                 programs: Mapping[Pubkey, ModelledProgram]) -> Ledger:
        genesis_hash = genesis.new_genesis_hash()
        keys = genesis.create_genesis_accounts(svm)
        clock = LedgerClock.genesis(speed=speed)
        meta = {"genesisHash": str(genesis_hash), "clock": clock.anchor.to_json(), "speed": speed,
                "network": genesis.NETWORK}
        store.commit({k: svm.account(k) for k in keys}, meta=meta)
        return cls(store, svm, clock, genesis_hash, programs)

    def close(self) -> None:
        with self._lock:
            self._save_clock(None)
            self._store.close()

    def _save_clock(self, speed: float | None) -> None:
        anchor = self._clock.reanchor(speed)
        meta: dict[str, Any] = {"clock": anchor.to_json()}
        if speed is not None:
            meta["speed"] = speed
        self._store.commit({}, meta=meta)

    # --- chain facts ------------------------------------------------------------------------------
    def info(self) -> LedgerInfo:
        return LedgerInfo(str(self._genesis_hash), str(genesis.TEST_MINT), genesis.TEST_MINT_DECIMALS,
                          str(genesis.TEST_MINT_TOKEN_PROGRAM))

    @property
    def genesis_hash(self) -> str:
        return str(self._genesis_hash)

    def now(self) -> ChainTime:
        with self._lock:
            return self._tick()

    def _tick(self) -> ChainTime:
        now = self._clock.now()
        self._svm.set_time(now)
        return now

    def warp(self, slots: int | None = None, seconds: int | None = None) -> ChainTime:
        """Move chain time forward (a test-only extension); persisted like any other state."""
        with self._lock:
            self._clock.warp(slots, seconds)
            self._save_clock(None)
            return self._tick()

    def latest_blockhash(self) -> tuple[Hash, int, int]:
        """(blockhash, slot, last valid block height)."""
        slot = self.now().slot
        return self._window.latest(slot), slot, slot + MAX_BLOCKHASH_AGE

    def is_blockhash_valid(self, blockhash: Hash) -> bool:
        with self._lock:
            return self._window.slot_of(blockhash, self._tick().slot) is not None

    # --- accounts ----------------------------------------------------------------------------------
    def account(self, key: Pubkey) -> Account | None:
        with self._lock:
            return self._svm.account(key)

    def accounts_owned_by(self, owner: Pubkey) -> list[tuple[Pubkey, Account]]:
        with self._lock:
            return self._svm.program_accounts(owner)

    def rent_exempt(self, size: int) -> int:
        with self._lock:
            return self._svm.rent_exempt(size)

    # --- transactions ------------------------------------------------------------------------------
    def decode(self, raw: bytes) -> TxView:
        """A transaction as it reads now (lookup tables resolved against their current contents)."""
        with self._lock:
            return decode_transaction(raw, self._svm.account)

    def _decode_at(self, raw: bytes, now: ChainTime) -> TxView:
        """A transaction about to execute at `now`: only the lookup-table addresses active then."""
        return decode_transaction(raw, self._svm.account, LookupClock(now.slot, self._svm.slot_hashes()))

    def fee_for_message(self, view: TxView) -> int | None:
        """The fee of a message, or None when its blockhash is no longer valid."""
        if not self.is_blockhash_valid(view.recent_blockhash):
            return None
        return transaction_fee(view.tx.message.header.num_required_signatures, view.instructions)

    def send(self, raw: bytes, skip_preflight: bool = False) -> Executed:
        """Submit a transaction. With preflight, any failure raises and leaves no trace; without it,
        a transaction that fails to execute lands as failed (fee charged, error recorded), as on a
        real cluster, and one that fails admission is dropped."""
        with self._lock:
            now = self._tick()
            view = self._decode_at(raw, now)
            admission.verify_signatures(view)
            try:
                fee = self._admit(view, now)
            except TransactionFailed as failure:
                if skip_preflight:
                    return Executed(str(view.signature), failure.err, [], 0)
                raise
            result = self._execute(view, fee, now, land_failures=skip_preflight, dry_run=False)
            if result.err is not None and not skip_preflight:
                raise TransactionFailed(result.err, result.logs, result.units)
            return result

    def simulate(self, raw: bytes, sig_verify: bool = False,
                 replace_blockhash: bool = False) -> tuple[Executed, Hash | None]:
        """Run a transaction against the current state and undo everything."""
        with self._lock:
            now = self._tick()
            view = self._decode_at(raw, now)
            if sig_verify:
                admission.verify_signatures(view)
            replacement = self._window.latest(now.slot) if replace_blockhash else None
            try:
                fee = self._admit(view, now, check_blockhash=not replace_blockhash)
            except TransactionFailed as failure:
                return Executed(str(view.signature), failure.err, [], 0), replacement
            return self._execute(view, fee, now, land_failures=False, dry_run=True), replacement

    def _admit(self, view: TxView, now: ChainTime, check_blockhash: bool = True) -> int:
        if check_blockhash:
            admission.check_blockhash(view, self._window, now.slot)
        admission.check_not_processed(view, self._store)
        return admission.check_fee_payer(view, self._svm)

    def _execute(self, view: TxView, fee: int, now: ChainTime, *, land_failures: bool,
                 dry_run: bool) -> Executed:
        writable = tuple(view.writable_keys())
        outer = Journal(self._svm, writable)
        pre = self._balances(view.keys)
        self._debit(view.fee_payer, fee)
        outcome = run_instructions(self._svm, view.instructions, writable, self._programs, now)
        executed = Executed(str(view.signature), outcome.err, outcome.logs, outcome.units)
        if dry_run or (outcome.err is not None and not land_failures):
            outer.restore()
            return executed
        record = TxRecord(str(view.signature), now.slot, now.unix_timestamp, view.raw, outcome.err, fee,
                          outcome.logs, outcome.units, pre, self._balances(view.keys))
        changed = _persistable(outer.current())
        self._store.commit(changed, record)
        for listener in self._listeners:
            listener(now.slot, changed)
        return executed

    def _debit(self, key: Pubkey, fee: int) -> None:
        account = self._svm.account(key)
        assert account is not None  # admission checked it
        self._svm.put(key, Account(account.lamports - fee, bytes(account.data), account.owner,
                                   account.executable, account.rent_epoch))

    def _balances(self, keys: Iterable[Pubkey]) -> list[int]:
        return [account.lamports if (account := self._svm.account(k)) else 0 for k in keys]

    def transaction(self, signature: str) -> TxRecord | None:
        with self._lock:
            return self._store.transaction(signature)

    # --- faucet ------------------------------------------------------------------------------------
    def airdrop(self, to: Pubkey, lamports: int) -> str:
        """Send SOL from the faucet (requestAirdrop)."""
        ix = transfer(TransferParams(from_pubkey=genesis.FAUCET, to_pubkey=to, lamports=lamports))
        return self._internal([ix])

    def mint_test_tokens(self, owner: Pubkey, amount: int) -> tuple[str, Pubkey]:
        """Mint the test stablecoin to `owner`'s ATA, creating it when needed."""
        mint, program = genesis.TEST_MINT, genesis.TEST_MINT_TOKEN_PROGRAM
        ata = associated_token_address(owner, mint, program)
        instructions = [spl.create_ata_idempotent(genesis.FAUCET, ata, owner, mint, program),
                        spl.mint_to_checked(program, mint, ata, genesis.FAUCET, amount,
                                            genesis.TEST_MINT_DECIMALS)]
        return self._internal(instructions), ata

    def _internal(self, instructions: list[Instruction]) -> str:
        """Apply a transaction signed by the ledger's own faucet authority."""
        with self._lock:
            now = self._tick()
            message = Message.new_with_blockhash(instructions, genesis.FAUCET, self._window.latest(now.slot))
            signature = Signature(os.urandom(64))
            tx = VersionedTransaction.populate(message, [signature])
            view = self._decode_at(bytes(tx), now)
            fee = self._admit(view, now)
            result = self._execute(view, fee, now, land_failures=False, dry_run=False)
            if result.err is not None:
                raise TransactionFailed(result.err, result.logs, result.units)
            return result.signature


def _persistable(accounts: Mapping[Pubkey, Account | None]) -> dict[Pubkey, Account | None]:
    """Leave out what the engine owns itself (programs, sysvars, the executor)."""
    def keep(key: Pubkey, account: Account | None) -> bool:
        return key != EXECUTOR and (
            account is None or (not account.executable and account.owner != SYSVAR_OWNER))

    return {key: account for key, account in accounts.items() if keep(key, account)}
