"""Our IDL against the upstream program IDL in ../shared/reference/idl (skipped when absent).

Compares every instruction (discriminator, argument layout, account order and flags, the
recipient-account tail), the Channel layout with offsets, the status values, the PDA seeds of the
event authority, the events and every error code and name.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from mppcli.chain.idl import FixedBytes, Idl, Named, Prim, StructDef, TypeRef, Vec, load_idl
from tests.support import REFERENCE

UPSTREAM_FILES = sorted((REFERENCE / "idl").glob("*.json")) if (REFERENCE / "idl").is_dir() else []

pytestmark = pytest.mark.skipif(not UPSTREAM_FILES, reason="../shared/reference/idl is not available")

NUMBER_SIZES = {"u8": 1, "u16": 2, "u32": 4, "u64": 8, "i64": 8}


@pytest.fixture(params=UPSTREAM_FILES, ids=lambda p: Path(p).name, scope="module")
def upstream(request: pytest.FixtureRequest) -> dict[str, Any]:
    program: dict[str, Any] = json.loads(Path(request.param).read_text())["program"]
    return program


@pytest.fixture(scope="module")
def ours() -> Idl:
    return load_idl()


def _types(upstream: dict[str, Any]) -> dict[str, Any]:
    return {t["name"]: t["type"] for t in upstream["definedTypes"]}


def _flatten_upstream(upstream: dict[str, Any], node: dict[str, Any]) -> Any:
    """An upstream type node, rewritten in our vocabulary (structs inlined as field lists)."""
    kind = node["kind"]
    if kind == "numberTypeNode":
        assert node["endian"] == "le"
        return node["format"]
    if kind == "publicKeyTypeNode":
        return "pubkey"
    if kind == "arrayTypeNode":
        count = node["count"]
        if count["kind"] == "fixedCountNode":
            assert _flatten_upstream(upstream, node["item"]) == "u8"
            return ("bytes", count["value"])
        assert count["kind"] == "prefixedCountNode" and count["prefix"]["format"] == "u32"
        return ("vec", _flatten_upstream(upstream, node["item"]))
    if kind == "definedTypeLinkNode":
        return _flatten_upstream(upstream, _types(upstream)[node["name"]])
    if kind == "structTypeNode":
        return tuple((f["name"], _flatten_upstream(upstream, f["type"])) for f in node["fields"])
    if kind == "enumTypeNode":
        return ("enum", tuple((v["name"], v.get("discriminator", i)) for i, v in enumerate(node["variants"])))
    raise AssertionError(f"unhandled upstream node {kind}")


def _flatten_ours(idl: Idl, t: TypeRef) -> Any:
    if isinstance(t, Prim):
        return t.name
    if isinstance(t, FixedBytes):
        return ("bytes", t.size)
    if isinstance(t, Vec):
        return ("vec", _flatten_ours(idl, t.item))
    assert isinstance(t, Named)
    body = idl.types[t.name]
    if isinstance(body, StructDef):
        return tuple((name, _flatten_ours(idl, ft)) for name, ft in body.fields)
    return ("enum", tuple(body.variants.items()))


def test_program_id(upstream: dict[str, Any], ours: Idl) -> None:
    assert upstream["publicKey"] == ours.program_id


def test_instruction_set_and_discriminators(upstream: dict[str, Any], ours: Idl) -> None:
    theirs = {}
    for ix in upstream["instructions"]:
        disc = next(a for a in ix["arguments"] if a["name"] == "discriminator")
        theirs[ix["name"]] = disc["defaultValue"]["number"]
    assert theirs == {name: ix.discriminator for name, ix in ours.instructions.items()}


def test_instruction_arguments(upstream: dict[str, Any], ours: Idl) -> None:
    for ix in upstream["instructions"]:
        args = [a for a in ix["arguments"] if a["name"] != "discriminator"]
        theirs = [(a["name"], _flatten_upstream(upstream, a["type"])) for a in args]
        mine = [(name, _flatten_ours(ours, t)) for name, t in ours.instructions[ix["name"]].args]
        assert theirs == mine, ix["name"]


def test_instruction_accounts_order_and_flags(upstream: dict[str, Any], ours: Idl) -> None:
    for ix in upstream["instructions"]:
        theirs = [(a["name"], a["isSigner"], a["isWritable"]) for a in ix["accounts"]]
        mine = [(a.name, a.signer, a.writable) for a in ours.instructions[ix["name"]].accounts]
        assert theirs == mine, ix["name"]


def test_account_defaults_agree(upstream: dict[str, Any], ours: Idl) -> None:
    """Where upstream gives a fixed address or the event-authority PDA, we derive the same."""
    for ix in upstream["instructions"]:
        specs = {a.name: a for a in ours.instructions[ix["name"]].accounts}
        for account in ix["accounts"]:
            default = account.get("defaultValue")
            derive = specs[account["name"]].derive
            if default is None:
                continue
            assert derive is not None, (ix["name"], account["name"])
            if default["kind"] == "publicKeyValueNode":
                expected = ours.program_id if derive.target == "self" else ours.addresses[derive.target]
                assert default["publicKey"] == expected
            else:
                assert (derive.kind, derive.target) == ("pda", default["pda"]["name"])


def test_remaining_accounts(upstream: dict[str, Any], ours: Idl) -> None:
    for ix in upstream["instructions"]:
        tail = ix.get("remainingAccounts", [])
        mine = ours.instructions[ix["name"]].remaining
        assert bool(tail) == (mine is not None), ix["name"]
        for node in tail:
            assert mine is not None
            assert (node["isSigner"], node["isWritable"]) == (mine.signer, mine.writable)
            assert node["value"]["name"] == mine.name


def test_channel_layout_with_offsets(upstream: dict[str, Any], ours: Idl) -> None:
    account = next(a for a in upstream["accounts"] if a["name"] == "channel")
    theirs, offset = [], 0
    for field in account["data"]["fields"]:
        flat = _flatten_upstream(upstream, field["type"])
        nested = isinstance(flat, tuple) and flat and isinstance(flat[0], tuple)
        parts = flat if nested else ((field["name"], flat),)
        for name, t in parts:  # upstream nests settled/payoutWatermark in `settlement`
            theirs.append((name, t, offset))
            offset += 32 if t == "pubkey" else t[1] if isinstance(t, tuple) else NUMBER_SIZES[t]
    mine = []
    for field in ours.accounts["channel"].fields:
        t = _flatten_ours(ours, field.type)
        mine.append((field.name, "u8" if field.name == "status" else t, field.offset))
    assert theirs == mine
    assert offset == ours.accounts["channel"].size


def test_enums(upstream: dict[str, Any], ours: Idl) -> None:
    theirs = _types(upstream)
    for name in ("channelStatus", "accountDiscriminator", "payoutBeneficiary", "redirectReason"):
        assert _flatten_upstream(upstream, theirs[name]) == _flatten_ours(ours, Named(name)), name


def test_event_authority_seeds(upstream: dict[str, Any], ours: Idl) -> None:
    pda = next(p for p in upstream["pdas"] if p["name"] == "eventAuthority")
    theirs = [(s["kind"], s["value"]["string"]) for s in pda["seeds"]]
    mine = [("constantPdaSeedNode", s.value) for s in ours.pdas["eventAuthority"].seeds]
    assert theirs == mine


def test_events(upstream: dict[str, Any], ours: Idl) -> None:
    theirs = {}
    for event in upstream["events"]:
        prefix = event["data"]["prefix"][0]["value"]["data"]
        theirs[event["name"]] = (prefix, _flatten_upstream(upstream, event["data"]["type"]))
    mine = {name: (e.discriminator.hex(), tuple((f, _flatten_ours(ours, t)) for f, t in e.fields))
            for name, e in ours.events.items()}
    assert theirs == mine


def test_error_codes_and_names(upstream: dict[str, Any], ours: Idl) -> None:
    theirs = {e["code"]: e["name"] for e in upstream["errors"]}
    assert theirs == {code: e.name for code, e in ours.errors.items()}
