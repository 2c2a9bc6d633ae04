"""The ledger's websocket (Solana's PubSub API): `accountSubscribe` / `accountUnsubscribe`.

Clusters serve it on the RPC port + 1 (`ws://127.0.0.1:8900` for `http://127.0.0.1:8899`); the
embedded ledger follows that convention (`mppcli.ledger.runner`). Every transaction that lands
writes an `accountNotification` for each subscribed account it wrote, in commit order, encoded like
`getAccountInfo`; an account that was deallocated is reported as Solana does (0 lamports, owned by
the system program, no data).

Two test-only extensions sit on the HTTP JSON-RPC: `mpp_rpcStats` (calls per method, open
websockets and subscriptions: how a test sees that a client stopped polling) and
`mpp_dropWebsockets` (close every websocket, and with `{"refuse": true}` refuse new ones until
called with `{"refuse": false}`: how a test drops a subscription for real).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import threading
import weakref
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from solders.account import Account
from solders.pubkey import Pubkey

from mppcli.ledger.core import Ledger
from mppcli.ledger.rpc_encoding import EncodingError, encode_account
from mppcli.ledger.rpc_methods import (
    INVALID_REQUEST,
    METHOD_NOT_FOUND,
    PARAMS_NOT_ARRAY,
    PARSE_ERROR,
    RpcMethodError,
    config_param,
    invalid_params,
    method,
    pubkey_param,
)

SYSTEM_PROGRAM = "11111111111111111111111111111111"
FLUSH_PATIENCE = 0.5
CLOSE = None  # queued to a connection: close it


@dataclass(eq=False)
class Connection:
    """One websocket: its outgoing queue (replies and notifications, in order) and subscriptions."""

    loop: asyncio.AbstractEventLoop
    queue: asyncio.Queue[str | None] = field(default_factory=asyncio.Queue)
    subscriptions: set[int] = field(default_factory=set)
    unsent: int = 0  # pushed, not yet written to the socket
    on_idle: Callable[[], None] = lambda: None  # called when `unsent` drops to zero
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def push(self, message: str | None) -> None:
        """Queue from any thread (commits may run off the connection's loop)."""
        with self._lock:
            self.unsent += 1
        self.loop.call_soon_threadsafe(self.queue.put_nowait, message)

    def sent(self) -> None:
        with self._lock:
            self.unsent -= 1
            idle = self.unsent == 0
        if idle:
            self.on_idle()


@dataclass(frozen=True)
class _Subscription:
    connection: Connection
    key: Pubkey
    encoding: str


class AccountHub:
    """Subscriptions of one ledger, fed by its commits. It holds its ledger weakly: the ledger
    holds it (as a commit listener) and `hub_for`'s table holds it, so a strong reference back
    would keep every ledger that ever answered an RPC alive."""

    def __init__(self, ledger: Ledger) -> None:
        self._ledger_ref = weakref.ref(ledger)
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._subscriptions: dict[int, _Subscription] = {}
        self._by_key: dict[Pubkey, set[int]] = {}
        self._connections: set[Connection] = set()
        self._flush_waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]] = []
        self.refusing = False
        self.calls: Counter[str] = Counter()
        ledger.on_commit(self._committed)

    # --- connections ------------------------------------------------------------------------
    def connect(self, loop: asyncio.AbstractEventLoop) -> Connection:
        connection = Connection(loop, on_idle=self._wake_if_flushed)
        with self._lock:
            self._connections.add(connection)
        return connection

    def disconnect(self, connection: Connection) -> None:
        with self._lock:
            self._connections.discard(connection)
            for sub_id in connection.subscriptions:
                self._forget(sub_id)
            connection.subscriptions.clear()
        self._wake_if_flushed()  # what it still had queued is no longer awaited

    def drop_all(self, refuse: bool) -> int:
        """Close every websocket (their subscriptions end with them); returns how many."""
        with self._lock:
            self.refusing = refuse
            connections = list(self._connections)
        for connection in connections:
            connection.push(CLOSE)
        return len(connections)

    async def flushed(self, patience: float = FLUSH_PATIENCE) -> None:
        """Wait (briefly) until every queued message is written: the RPC answers a transaction
        only after its notifications left, so a subscriber never learns of it later than the
        sender. A stuck websocket client gets `patience` seconds, not the RPC. The wait sleeps
        until the last connection with unsent messages drains (`_wake_if_flushed`)."""
        loop = asyncio.get_running_loop()
        with self._lock:
            if not any(c.unsent for c in self._connections):
                return
            waiter: asyncio.Future[None] = loop.create_future()
            self._flush_waiters.append((loop, waiter))
        try:
            await asyncio.wait_for(waiter, patience)
        except TimeoutError:
            pass  # a stuck subscriber: answer anyway
        finally:  # timed out or cancelled: no longer waiting
            with self._lock:
                self._flush_waiters = [(lp, w) for lp, w in self._flush_waiters if w is not waiter]

    def _wake_if_flushed(self) -> None:
        """Resolve the `flushed` waiters once no connection has unsent messages (any thread)."""
        with self._lock:
            if any(c.unsent for c in self._connections):
                return
            waiters, self._flush_waiters = self._flush_waiters, []
        for loop, waiter in waiters:
            with contextlib.suppress(RuntimeError):  # its loop closed: nobody waits any more
                loop.call_soon_threadsafe(_resolve, waiter)

    def count(self, name: str) -> None:
        """One more call of the JSON-RPC method `name` (HTTP or websocket)."""
        with self._lock:
            self.calls[name] += 1

    def stats(self) -> dict[str, Any]:
        with self._lock:
            return {"calls": dict(self.calls), "websockets": len(self._connections),
                    "subscriptions": len(self._subscriptions)}

    # --- requests ---------------------------------------------------------------------------
    def handle(self, connection: Connection, text: str) -> None:
        """One websocket message in; its reply is queued on the connection."""
        try:
            request = json.loads(text)
        except ValueError:
            connection.push(_error(PARSE_ERROR, None))
            return
        if not isinstance(request, dict) or not isinstance(request.get("method"), str):
            connection.push(_error(INVALID_REQUEST, None))
            return
        request_id, name = request.get("id"), request["method"]
        params = request.get("params", [])
        self.count(name)
        if not isinstance(params, list):
            connection.push(_error(PARAMS_NOT_ARRAY, request_id))
        elif name == "accountSubscribe":
            self._subscribe(connection, request_id, params)
        elif name == "accountUnsubscribe":
            self._unsubscribe(connection, request_id, params)
        else:
            connection.push(_error(METHOD_NOT_FOUND, request_id))

    def _subscribe(self, connection: Connection, request_id: Any, params: list[Any]) -> None:
        try:
            key = pubkey_param(params, 0)
            encoding = config_param(params, 1).get("encoding", "base64")
        except Exception as exc:  # the parameter helpers raise RpcMethodError
            connection.push(_error(invalid_params(str(exc)), request_id))
            return
        if encoding not in ("base64", "base58", "jsonParsed"):
            connection.push(_error(invalid_params(f"unsupported encoding {encoding!r}"), request_id))
            return
        # Registered under the ledger's lock: a commit is either wholly before the subscription
        # (the subscriber reads it afterwards) or notified.
        with self._ledger_lock(), self._lock:
            sub_id = next(self._ids)
            self._subscriptions[sub_id] = _Subscription(connection, key, encoding)
            self._by_key.setdefault(key, set()).add(sub_id)
            connection.subscriptions.add(sub_id)
            connection.push(json.dumps({"jsonrpc": "2.0", "result": sub_id, "id": request_id}))

    def _unsubscribe(self, connection: Connection, request_id: Any, params: list[Any]) -> None:
        sub_id = params[0] if params else None
        with self._lock:
            found = isinstance(sub_id, int) and sub_id in connection.subscriptions
            if isinstance(sub_id, int) and found:
                connection.subscriptions.discard(sub_id)
                self._forget(sub_id)
        if not found:
            connection.push(_error(invalid_params("Invalid subscription id."), request_id))
        else:
            connection.push(json.dumps({"jsonrpc": "2.0", "result": True, "id": request_id}))

    def _forget(self, sub_id: int) -> None:
        sub = self._subscriptions.pop(sub_id, None)
        if sub is not None:
            ids = self._by_key.get(sub.key)
            if ids is not None:
                ids.discard(sub_id)
                if not ids:
                    del self._by_key[sub.key]

    @property
    def _ledger(self) -> Ledger:
        ledger = self._ledger_ref()
        if ledger is None:
            raise RuntimeError("the ledger of this hub is gone")
        return ledger

    def _ledger_lock(self) -> Any:
        return self._ledger._lock

    # --- notifications ----------------------------------------------------------------------
    def _committed(self, slot: int, changed: Mapping[Pubkey, Account | None]) -> None:
        with self._lock:
            targets = [(sub_id, self._subscriptions[sub_id], account)
                       for key, account in changed.items()
                       for sub_id in self._by_key.get(key, ())]
        for sub_id, sub, account in targets:
            result = {"context": {"slot": slot}, "value": self._encode(account, sub.encoding)}
            sub.connection.push(json.dumps({
                "jsonrpc": "2.0", "method": "accountNotification",
                "params": {"result": result, "subscription": sub_id}}, separators=(",", ":")))

    def _encode(self, account: Account | None, encoding: str) -> dict[str, Any]:
        if account is None or account.lamports == 0:
            return {"data": ["", "base64"], "executable": False, "lamports": 0, "owner": SYSTEM_PROGRAM,
                    "rentEpoch": 0, "space": 0}
        try:
            return encode_account(account, encoding, self._ledger.account)
        except EncodingError:
            return encode_account(account, "base64", self._ledger.account)


def _error(error: RpcMethodError, request_id: Any) -> str:
    return json.dumps(error.response(request_id))


_HUBS: weakref.WeakKeyDictionary[Ledger, AccountHub] = weakref.WeakKeyDictionary()
_HUBS_LOCK = threading.Lock()


def hub_for(ledger: Ledger) -> AccountHub:
    """The ledger's one hub (created on first use)."""
    with _HUBS_LOCK:
        hub = _HUBS.get(ledger)
        if hub is None:
            hub = _HUBS[ledger] = AccountHub(ledger)
        return hub


@method("mpp_rpcStats")
def rpc_stats(ledger: Ledger, params: list[Any]) -> dict[str, Any]:
    return hub_for(ledger).stats()


@method("mpp_dropWebsockets")
def drop_websockets(ledger: Ledger, params: list[Any]) -> dict[str, Any]:
    refuse = bool(config_param(params, 0).get("refuse", False))
    return {"dropped": hub_for(ledger).drop_all(refuse), "refusing": refuse}


def _resolve(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)
