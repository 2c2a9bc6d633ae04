"""Channels whose local record was damaged and moved aside: they block a second deposit, and
`channels sync` rebuilds a usable record for them.

A damaged record (`<id>.json.corrupt-<time>`) still names its channel, and the chain still holds
the deposit. Until the channel is resolved (a valid record exists again, or the chain shows it
closed), a new open to the same payee by the same payer is refused (`--channel new` says
explicitly to open another anyway): otherwise a torn file turns into a second deposit (issue 10
item 17).

Rebuilding takes nothing unverified: the chain gives the channel's terms, deposit and settled
amount; the damaged bytes may still hold the resource URL and the vouchers this client signed, and a
voucher is kept only when its signature is the channel's authorized signer's over this channel
(so it is one this client really signed, byte-identical, as a close must resend). The record is
`open` when the server still resumes the channel at that URL (its resume challenge names it, with
the same terms), else `orphaned` (`mpp close --force` then gets the money back).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

from mppcli.client import chainio
from mppcli.client.context import Client, origin_of
from mppcli.errors import InputError, MppError, PolicyError
from mppcli.protocol.encoding import loads_json
from mppcli.protocol.voucher import SignedVoucher, parse_signed_voucher, verify_signed_voucher
from mppcli.state.record import ChannelRecord, ChannelStatus

_TEXT_FIELD = r'"{name}"\s*:\s*"((?:[^"\\]|\\.)*)"'


@dataclass(frozen=True)
class Salvaged:
    """What a damaged record still tells, each piece checked before use."""

    url: str | None
    realm: str | None
    vouchers: tuple[SignedVoucher, ...]  # verified, highest cumulative last


def damaged_channels(client: Client) -> dict[str, list[Path]]:
    """Channel id -> its moved-aside record files, for channels with no valid record now."""
    found: dict[str, list[Path]] = {}
    for path in client.store.damaged():
        channel_id = path.name.split(".json", 1)[0]
        found.setdefault(channel_id, []).append(path)
    return {cid: paths for cid, paths in found.items() if not _has_record(client, cid)}


def _has_record(client: Client, channel_id: str) -> bool:
    try:
        return client.store.load(channel_id) is not None
    except MppError:
        return False


async def no_damaged_channel_to(client: Client, payer: str, payee: str) -> None:
    """Refuse a new open while a damaged record's channel to this payee may still hold a deposit."""
    from mppcli.chain.channel import ChannelStatus as OnChain
    from mppcli.chain.constants import PROGRAM_ID

    for channel_id, paths in damaged_channels(client).items():
        try:
            seen = await chainio.read_channel(client.rpc, channel_id, str(PROGRAM_ID))
        except InputError:
            continue  # not a channel address at all
        acc = seen.account
        if acc is None or acc.status not in (OnChain.OPEN, OnChain.CLOSING):
            continue
        if str(acc.payer) == payer and str(acc.payee) == payee:
            raise PolicyError(
                f"channel {channel_id} with this server still holds a deposit of {acc.deposit}, but its "
                f"local record was damaged (moved aside to {paths[-1].name}); refusing to deposit again",
                channel_id=channel_id,
                hint="Run `mpp channels sync` to rebuild its record (then `mpp close` settles it), or "
                     "pass --channel new to open another channel anyway.")


def salvage(paths: list[Path], channel_id: str, authorized_signer: str, deposit: int) -> Salvaged:
    """The URL, realm and verified vouchers still readable in the damaged files of one channel."""
    url = realm = None
    vouchers: dict[str, SignedVoucher] = {}
    for path in paths:
        try:
            text = path.read_text(errors="replace")
        except OSError:
            continue
        url = url or _http_url(_field(text, "url"))
        realm = realm or _field(text, "realm")
        for name in ("lastSignedVoucher", "lastAcceptedVoucher"):
            for found in _fields(text, name):
                signed = _verified(found, channel_id, authorized_signer, deposit)
                if signed is not None:
                    vouchers[signed.signature] = signed
    ordered = tuple(sorted(vouchers.values(), key=lambda v: v.voucher.cumulative_amount))
    return Salvaged(url, realm, ordered)


def _fields(text: str, name: str) -> Iterator[str]:
    for match in re.finditer(_TEXT_FIELD.format(name=name), text):
        try:
            value = json.loads(f'"{match.group(1)}"')
        except ValueError:
            continue
        if isinstance(value, str):
            yield value


def _field(text: str, name: str) -> str | None:
    return next(_fields(text, name), None)


def _http_url(url: str | None) -> str | None:
    if url is None:
        return None
    try:
        origin_of(url)
    except InputError:
        return None
    return url


def _verified(text: str, channel_id: str, authorized_signer: str, deposit: int) -> SignedVoucher | None:
    """A stored voucher text, only if it is the authorized signer's valid signature on this channel."""
    from mppcli.errors import MalformedError

    try:
        signed = parse_signed_voucher(loads_json(text, "stored voucher"))
    except MalformedError:
        return None
    if signed.voucher.channel_id != channel_id or signed.signer != authorized_signer:
        return None
    if signed.voucher.cumulative_amount > deposit or not verify_signed_voucher(signed):
        return None
    return signed


def rebuilt(record: ChannelRecord, found: Salvaged) -> ChannelRecord:
    """The orphan record `sync` built from the chain, completed with what the damaged files held."""
    from mppcli.client.signing import voucher_text

    if found.url is None:
        return record
    rebuilt_record = replace(record, url=found.url, origin=origin_of(found.url),
                             realm=found.realm or record.realm)
    if found.vouchers:
        highest = found.vouchers[-1]
        rebuilt_record = replace(rebuilt_record, signed_cumulative=highest.voucher.cumulative_amount,
                                 last_signed_voucher=voucher_text(highest))
    return rebuilt_record


async def resumed_by_server(client: Client, record: ChannelRecord) -> bool:
    """Whether the server at the record's URL still resumes this channel with the same terms."""
    from mppcli.client.topup import fresh_offer

    try:
        offer = await fresh_offer(client, record)
    except MppError:
        return False
    return offer.details.channel_id == record.channel_id


def live(record: ChannelRecord) -> ChannelRecord:
    return replace(record, status=ChannelStatus.OPEN)
