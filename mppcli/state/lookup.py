"""Resolving what a user typed for CHANNEL: a full id, a unique id prefix, or a resource URL.

A URL matches the records of that exact resource (fragment ignored), else, when it names only an
origin, the records of that origin. Several channels for one URL are common (old closed ones and
a live one): the single live one wins; any other ambiguity is an error listing the candidates.
"""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import urlsplit, urlunsplit

from mppcli.errors import InputError
from mppcli.state.record import ChannelRecord

_MAX_LISTED = 10


def match_reference(records: Sequence[ChannelRecord], reference: str) -> ChannelRecord:
    ref = reference.strip()
    if not ref:
        raise InputError("no channel given", hint="Give a channel id, a unique prefix, or the resource URL.")
    if "://" in ref:
        candidates = _by_url(records, ref)
        live = [r for r in candidates if r.is_live]
        if len(candidates) > 1 and len(live) == 1:
            return live[0]
    else:
        candidates = [r for r in records if r.channel_id.startswith(ref)]
    if len(candidates) == 1:
        return candidates[0]
    if not candidates:
        raise InputError(f"no local channel matches {ref!r}",
                         hint="`mpp channels list --all` shows the channels this machine knows.")
    raise InputError(_ambiguous(ref, candidates),
                     hint="Give more characters of the channel id, or the full id.")


def _by_url(records: Sequence[ChannelRecord], ref: str) -> list[ChannelRecord]:
    url = _without_fragment(ref)
    exact = [r for r in records if _without_fragment(r.url) == url]
    if exact:
        return exact
    parts = urlsplit(url)
    if parts.path not in ("", "/") or parts.query:
        return []
    origin = f"{parts.scheme}://{parts.netloc}"
    return [r for r in records if r.origin == origin]


def _without_fragment(url: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, parts.query, ""))


def _ambiguous(ref: str, candidates: Sequence[ChannelRecord]) -> str:
    lines = [f"{ref!r} matches {len(candidates)} channels:"]
    lines += [f"  {r.channel_id}  {r.status.value}  {r.url}" for r in candidates[:_MAX_LISTED]]
    if len(candidates) > _MAX_LISTED:
        lines.append(f"  … and {len(candidates) - _MAX_LISTED} more")
    return "\n".join(lines)
