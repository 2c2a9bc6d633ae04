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
from mppcli.ledger.rpc_methods import (
    INTERNAL_ERROR,
    INVALID_REQUEST,
    METHOD_NOT_FOUND,
    METHODS,
    PARAMS_NOT_ARRAY,
    PARSE_ERROR,
    RpcMethodError,
)

_log = logging.getLogger("mppcli.ledger")


def handle_request(ledger: Ledger, request: Any) -> dict[str, Any]:
    """One request object to one response object."""
    if not isinstance(request, dict) or request.get("jsonrpc") != "2.0" or \
            not isinstance(request.get("method"), str):
        return INVALID_REQUEST.response(request.get("id") if isinstance(request, dict) else None)
    request_id = request.get("id")
    hub_for(ledger).count(request["method"])
    handler = METHODS.get(request["method"])
    if handler is None:
        return METHOD_NOT_FOUND.response(request_id)
    params = request.get("params", [])
    if not isinstance(params, list):
        return PARAMS_NOT_ARRAY.response(request_id)
    try:
        result = handler(ledger, params)
    except RpcMethodError as exc:
        return exc.response(request_id)
    except Exception:  # a bug in the ledger must not kill the server; say so and log it
        _log.exception("ledger error in %s", request["method"])
        return INTERNAL_ERROR.response(request_id)
    return {"jsonrpc": "2.0", "result": result, "id": request_id}


def handle_body(ledger: Ledger, body: bytes) -> bytes:
    """Raw HTTP body in, raw JSON out (a list for a batch)."""
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return _dump(PARSE_ERROR.response())
    if isinstance(payload, list):
        if not payload:
            return _dump(INVALID_REQUEST.response())
        return _dump([handle_request(ledger, item) for item in payload])
    return _dump(handle_request(ledger, payload))


def _dump(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()
