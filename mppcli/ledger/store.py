"""The ledger's durable state: accounts, transaction history and chain metadata in one SQLite file.

Each applied transaction is committed with the accounts it changed in one SQLite transaction, so
the file always holds a state the chain really passed through; a restart loads it and continues.
`LedgerStore.open(None)` keeps everything in memory (an `--ephemeral` chain).
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from solders.account import Account
from solders.pubkey import Pubkey

DB_NAME = "ledger.sqlite3"
SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS accounts (
    pubkey TEXT PRIMARY KEY, lamports INTEGER NOT NULL, owner TEXT NOT NULL,
    executable INTEGER NOT NULL, rent_epoch TEXT NOT NULL, data BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS transactions (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, signature TEXT UNIQUE NOT NULL, slot INTEGER NOT NULL,
    block_time INTEGER NOT NULL, raw BLOB NOT NULL, body TEXT NOT NULL);
"""


@dataclass(frozen=True)
class TxRecord:
    """A transaction that landed (successfully or not), as getTransaction reports it."""

    signature: str
    slot: int
    block_time: int
    raw: bytes
    err: Any
    fee: int
    logs: list[str]
    units: int
    pre_balances: list[int]
    post_balances: list[int]

    def body(self) -> str:
        return json.dumps({"err": self.err, "fee": self.fee, "logs": self.logs, "units": self.units,
                           "pre": self.pre_balances, "post": self.post_balances})

    @classmethod
    def from_row(cls, row: tuple[str, int, int, bytes, str]) -> TxRecord:
        body = json.loads(row[4])
        return cls(row[0], row[1], row[2], bytes(row[3]), body["err"], body["fee"], body["logs"],
                   body["units"], body["pre"], body["post"])


class LedgerStore:
    """SQLite-backed persistence; one writer (the ledger thread)."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._db = conn
        self._db.executescript(_SCHEMA)

    @classmethod
    def open(cls, directory: Path | None) -> LedgerStore:
        if directory is None:
            return cls(sqlite3.connect(":memory:", check_same_thread=False))
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        path = directory / DB_NAME
        conn = sqlite3.connect(path, check_same_thread=False)
        os.chmod(path, 0o600)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        return cls(conn)

    def close(self) -> None:
        self._db.close()

    def meta(self) -> dict[str, Any]:
        return {k: json.loads(v) for k, v in self._db.execute("SELECT key, value FROM meta")}

    def accounts(self) -> Iterator[tuple[Pubkey, Account]]:
        rows = self._db.execute("SELECT pubkey, lamports, owner, executable, rent_epoch, data FROM accounts")
        for key, lamports, owner, executable, rent_epoch, data in rows:
            yield Pubkey.from_string(key), Account(lamports, bytes(data), Pubkey.from_string(owner),
                                                   bool(executable), int(rent_epoch))

    def commit(self, accounts: Mapping[Pubkey, Account | None], record: TxRecord | None = None,
               meta: Mapping[str, Any] | None = None) -> None:
        """Write changed accounts, the transaction and metadata atomically."""
        with self._db:
            for key, account in accounts.items():
                self._write_account(key, account)
            if record is not None:
                self._db.execute(
                    "INSERT INTO transactions (signature, slot, block_time, raw, body) VALUES (?,?,?,?,?)",
                    (record.signature, record.slot, record.block_time, record.raw, record.body()))
            for name, value in (meta or {}).items():
                self._db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)",
                                 (name, json.dumps(value)))

    def _write_account(self, key: Pubkey, account: Account | None) -> None:
        if account is None or account.lamports == 0:
            self._db.execute("DELETE FROM accounts WHERE pubkey = ?", (str(key),))
            return
        self._db.execute(
            "INSERT OR REPLACE INTO accounts (pubkey, lamports, owner, executable, rent_epoch, data) "
            "VALUES (?,?,?,?,?,?)",
            (str(key), account.lamports, str(account.owner), int(account.executable),
             str(account.rent_epoch), bytes(account.data)))

    def transaction(self, signature: str) -> TxRecord | None:
        row = self._db.execute("SELECT signature, slot, block_time, raw, body FROM transactions "
                               "WHERE signature = ?", (signature,)).fetchone()
        return TxRecord.from_row(row) if row else None

    def has_transaction(self, signature: str) -> bool:
        row = self._db.execute("SELECT 1 FROM transactions WHERE signature = ?", (signature,)).fetchone()
        return row is not None

    def transaction_count(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM transactions").fetchone()[0])
