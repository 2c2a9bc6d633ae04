"""The JSON-RPC 2.0 envelope: single and batch requests, Solana's error objects.

`handle_body` turns request bytes into response bytes, so the HTTP layer stays a thin shell.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from mppcli.ledger import rpc_transactions  # noqa: F401 - registers the transaction methods
from mppcli.ledger.core import Ledger
from mppcli.ledger.pubsub import hub_for  # also registers the websocket test extensions
from mppcli.ledger.rpc_methods import METHODS, RpcMethodError

_log = logging.getLogger("mppcli.ledger")


def _error(code: int, message: str, request_id: Any = None, data: Any = None) -> dict[str, Any]:
    body: dict[str, Any] = {"code": code, "message": message}
    if data is not None:
        body["data"] = data
    return {"jsonrpc": "2.0", "error": body, "id": request_id}


def handle_request(ledger: Ledger, request: Any) -> dict[str, Any]:
    """One request object to one response object."""
    if not isinstance(request, dict) or request.get("jsonrpc") != "2.0" or \
            not isinstance(request.get("method"), str):
        return _error(-32600, "Invalid request", request.get("id") if isinstance(request, dict) else None)
    request_id = request.get("id")
    hub_for(ledger).count(request["method"])
    handler = METHODS.get(request["method"])
    if handler is None:
        return _error(-32601, "Method not found", request_id)
    params = request.get("params", [])
    if not isinstance(params, list):
        return _error(-32602, "Invalid params: params must be an array", request_id)
    try:
        result = handler(ledger, params)
    except RpcMethodError as exc:
        return {"jsonrpc": "2.0", "error": exc.to_json(), "id": request_id}
    except Exception:  # a bug in the ledger must not kill the server; say so and log it
        _log.exception("ledger error in %s", request["method"])
        return _error(-32603, "Internal error", request_id)
    return {"jsonrpc": "2.0", "result": result, "id": request_id}


def handle_body(ledger: Ledger, body: bytes) -> bytes:
    """Raw HTTP body in, raw JSON out (a list for a batch)."""
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return _dump(_error(-32700, "Parse error"))
    if isinstance(payload, list):
        if not payload:
            return _dump(_error(-32600, "Invalid request"))
        return _dump([handle_request(ledger, item) for item in payload])
    return _dump(handle_request(ledger, payload))


def _dump(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()
