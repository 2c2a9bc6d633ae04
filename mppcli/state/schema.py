"""Schema versions of stored channel records and the ordered upgraders between them.

A document's `version` (absent = 0) says which layout it has. `upgrade_document` applies the
upgraders from that version up to `SCHEMA_VERSION`, one step at a time (httpie's version→fixer
map, minus the legacy modules). A record from a *newer* mpp is left alone and reported: rewriting
it would lose whatever the newer version added.

Version history:
  0  pre-release layout: no `version` key, flat `cumulative`/`accepted`, `program`, `sessionKey`
     (bool), `challengeId`, `lastVoucher`, splits as `{recipient, bps}`, status `active`, no
     `origin`/`realm`.
  1  the `ChannelRecord` document without `pendingTopUp`.
  2  the current `ChannelRecord` document: adds `pendingTopUp` (null, or the signed topUp not yet
     confirmed), written before a top-up leaves the process.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from mppcli.errors import MalformedError
from mppcli.protocol.session import VoucherSigner
from mppcli.state.record import SCHEMA_VERSION

Document = dict[str, Any]


class NewerSchemaError(MalformedError):
    """The record was written by a newer mpp; it must not be moved aside or rewritten."""


def _v0_to_v1(doc: Document) -> Document:
    out = dict(doc)
    renames = {"program": "programId", "cumulative": "signedCumulative",
               "accepted": "acceptedCumulative", "challengeId": "openingChallengeId",
               "lastVoucher": "lastSignedVoucher"}
    for old, new in renames.items():
        out[new] = out.pop(old, None)
    session = out.pop("sessionKey", False)
    operator_mode = out.get("voucherSigner") == VoucherSigner.OPERATOR
    out["signerKind"] = "operator" if operator_mode else ("session" if session else "payer")
    out["splits"] = [{"recipient": s.get("recipient"), "shareBps": s.get("bps")}
                     for s in out.get("splits") or []]
    if out.get("status") == "active":
        out["status"] = "open"
    url = out.get("url")
    origin = _origin(url) if isinstance(url, str) else None
    out.setdefault("origin", origin)
    out.setdefault("realm", urlsplit(url).hostname if origin else None)
    for amount in ("signedCumulative", "acceptedCumulative", "spent", "settled", "refunded"):
        if out.get(amount) is None:
            out[amount] = "0"
    out["version"] = 1
    return out


def _origin(url: str) -> str | None:
    parts = urlsplit(url)
    if not parts.scheme or not parts.netloc:
        return None
    return f"{parts.scheme}://{parts.netloc}"


def _v1_to_v2(doc: Document) -> Document:
    """No top-up was ever recorded as pending before v2: start with none."""
    out = dict(doc)
    out.setdefault("pendingTopUp", None)
    out["version"] = 2
    return out


UPGRADERS: dict[int, Callable[[Document], Document]] = {0: _v0_to_v1, 1: _v1_to_v2}


def document_version(doc: Any) -> int:
    if not isinstance(doc, dict):
        raise MalformedError("a channel record must be a JSON object")
    version = doc.get("version", 0)
    if isinstance(version, bool) or not isinstance(version, int) or version < 0:
        raise MalformedError("version must be a non-negative integer")
    return version


def upgrade_document(doc: Any) -> tuple[Document, int]:
    """The document in the current layout, and the version it was stored with."""
    stored = document_version(doc)
    if stored > SCHEMA_VERSION:
        raise NewerSchemaError(f"written by a newer mpp (record version {stored}, "
                               f"this mpp reads up to {SCHEMA_VERSION})")
    for version in range(stored, SCHEMA_VERSION):
        doc = UPGRADERS[version](doc)
    return doc, stored
