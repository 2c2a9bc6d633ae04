"""`ChannelStore`: the local channel records under the state dir, one JSON file per channel.

    store = ChannelStore(paths, warn=env.warn)
    store.create(record)                      # before the open transaction leaves the process
    store.update(cid, lambda r: replace(r, signed_cumulative=n, last_signed_voucher=text))
    with store.lock(cid): ...                 # hold the channel across a whole flow

Files are 0600 in 0700 dirs and replaced atomically; `update` re-reads the record inside the
channel's cross-process lock, so concurrent `mpp` processes never lose each other's writes, and
watermarks only move forward. A damaged record is moved aside (`<id>.json.corrupt-<time>`) and
reported, never dropped or overwritten; a record from a newer mpp is reported and left alone.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from mppcli.errors import BusyError, InputError, InternalError, MalformedError
from mppcli.files.atomic import atomic_write, fsync_dir, remove_orphan_temps
from mppcli.files.locks import LockInfo, file_lock
from mppcli.paths import Paths, ensure_private_dir
from mppcli.protocol.encoding import loads_json
from mppcli.state.codec import parse_record
from mppcli.state.lookup import match_reference
from mppcli.state.record import WATERMARKS, ChannelRecord
from mppcli.state.schema import NewerSchemaError, upgrade_document
from mppcli.state.watermarks import guard_watermarks

log = logging.getLogger(__name__)

CHANNEL_ID = re.compile(r"[1-9A-HJ-NP-Za-km-z]{32,44}")
CORRUPT_MARKER = ".corrupt-"


@dataclass(frozen=True)
class RecordProblem:
    """A record file that could not be used, and what was done about it."""

    path: Path
    reason: str
    moved_to: Path | None = None

    def describe(self) -> str:
        where = f"; moved aside to {self.moved_to.name}" if self.moved_to else ""
        return f"channel record {self.path.name}: {self.reason}{where}"

    def to_json(self) -> dict[str, object]:
        return {"file": str(self.moved_to or self.path), "reason": self.reason}


@dataclass(frozen=True)
class Listing:
    records: tuple[ChannelRecord, ...]
    problems: tuple[RecordProblem, ...]


@dataclass(frozen=True)
class StagedRecord:
    """A checked record and the exact bytes `write_staged` will store for it."""

    record: ChannelRecord
    data: bytes


def _encode(record: ChannelRecord) -> bytes:
    """The file's bytes; never what the next read would refuse (and move aside as corrupt)."""
    doc = record.to_json()
    try:
        parse_record(doc)
    except MalformedError as exc:
        raise InternalError(f"refusing to write an invalid channel record: {exc}") from None
    return (json.dumps(doc, indent=2, ensure_ascii=False) + "\n").encode()


class RecordUnusable(InputError):
    """The record of a channel exists but is damaged or from a newer mpp."""


_Records = list[ChannelRecord]
_Problems = list[RecordProblem]
_Paths = list[Path]
Held = contextlib.AbstractContextManager[LockInfo]


class ChannelStore:
    """The payer's channel records (see the module docstring)."""

    def __init__(self, paths: Paths, *, warn: Callable[[str], None] | None = None,
                 clock: Callable[[], float] = time.time, lock_wait: float = 0.0):
        self.lock_wait = lock_wait  # seconds every lock waits for a busy holder (`--wait`)
        self.dir = paths.channels_dir
        self.state_dir = paths.state_dir
        self.locks_dir = paths.state_dir / "locks"
        self._warn = warn or log.warning
        self._clock = clock

    # -- paths and locks ---------------------------------------------------------------------

    def path_of(self, channel_id: str) -> Path:
        if not CHANNEL_ID.fullmatch(channel_id):
            raise InputError(f"not a channel id: {channel_id!r}",
                             hint="A channel id is the base58 address of the channel account.")
        return self.dir / f"{channel_id}.json"

    def lock(self, channel_id: str, *, wait: float = 0.0,
             purpose: str = "using the channel") -> Held:
        """The channel's cross-process lock (re-entrant in this thread); BusyError names the holder."""
        self.path_of(channel_id)
        return file_lock(self._lock_path(f"channel-{channel_id}"), purpose, wait=max(wait, self.lock_wait),
                         what=f"channel {channel_id}", clock=self._clock)

    def open_lock(self, payer: str, origin: str, *, wait: float = 0.0) -> Held:
        """One open at a time per payer and server origin (two opens must not both deposit)."""
        digest = hashlib.sha256(f"{payer}\n{origin}".encode()).hexdigest()[:32]
        return file_lock(self._lock_path(f"open-{digest}"), f"opening a channel to {origin}",
                         wait=max(wait, self.lock_wait), what=f"opening a channel from {payer} to {origin}",
                         clock=self._clock)

    def _lock_path(self, name: str) -> Path:
        ensure_private_dir(self.state_dir)
        ensure_private_dir(self.locks_dir)
        return self.locks_dir / f"{name}.lock"

    # -- reading -----------------------------------------------------------------------------

    def load(self, channel_id: str) -> ChannelRecord | None:
        """The record, None when there is none; a damaged one is moved aside and raised."""
        path = self.path_of(channel_id)
        record, problem = self._read(path)
        if problem is not None:
            self._warn(problem.describe())
            raise RecordUnusable(problem.describe(), channel_id=channel_id,
                                 hint="Run `mpp channels sync` to rebuild it from the chain.")
        return record

    def get(self, channel_id: str) -> ChannelRecord:
        record = self.load(channel_id)
        if record is None:
            raise InputError(f"no local record of channel {channel_id}",
                             hint="`mpp channels list --all` shows the channels this machine knows.")
        return record

    def list(self, *, include_closed: bool = True) -> Listing:
        """Every readable record (oldest first) and every problem met, old or new."""
        remove_orphan_temps(self.dir)
        records: _Records = []
        problems: _Problems = []
        for path in self._files("*.json"):
            record, problem = self._read(path)
            if problem is not None:
                self._warn(problem.describe())
                problems.append(problem)
            elif record is not None and (include_closed or record.is_live):
                records.append(record)
        moved_now = {p.moved_to for p in problems}
        for path in self.damaged():
            if path not in moved_now:
                problems.append(RecordProblem(path, "a damaged record moved aside earlier "
                                                    "(inspect it, then delete it)"))
                self._warn(problems[-1].describe())
        records.sort(key=lambda r: (r.created_at, r.channel_id))
        return Listing(tuple(records), tuple(problems))

    def damaged(self) -> _Paths:
        """The records moved aside as damaged (`<id>.json.corrupt-<time>`), oldest name first."""
        return self._files(f"*.json{CORRUPT_MARKER}*")

    def find(self, reference: str) -> ChannelRecord:
        """A channel by full id, unique id prefix or resource URL (InputError lists ambiguities)."""
        if CHANNEL_ID.fullmatch(reference):
            record = self.load(reference)
            if record is not None:
                return record
        return match_reference(self.list().records, reference)

    def _files(self, pattern: str) -> _Paths:
        if not self.dir.is_dir():
            return []
        return sorted(p for p in self.dir.glob(pattern) if not p.name.startswith("."))

    def _read(self, path: Path) -> tuple[ChannelRecord | None, RecordProblem | None]:
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            return None, None
        except OSError as exc:
            return None, RecordProblem(path, f"unreadable ({exc.strerror})")
        try:
            return self._decode(path, raw), None
        except NewerSchemaError as exc:
            return None, RecordProblem(path, str(exc))
        except MalformedError as exc:
            return None, self._move_aside(path, raw, str(exc))

    def _decode(self, path: Path, raw: bytes) -> ChannelRecord:
        doc, _ = upgrade_document(loads_json(raw, "the record"))  # `[[[[...` too: damage, not a crash
        record = parse_record(doc)
        if path.name != f"{record.channel_id}.json":
            raise MalformedError(f"holds channel {record.channel_id}, not the one its name says")
        return record

    def _move_aside(self, path: Path, raw: bytes, reason: str) -> RecordProblem:
        """Rename a damaged record out of the way, under its lock, if it still holds those bytes."""
        guard: contextlib.AbstractContextManager[object] = contextlib.nullcontext()
        if CHANNEL_ID.fullmatch(path.stem):
            guard = self.lock(path.stem, purpose="moving a damaged record aside")
        try:
            with guard:
                if path.read_bytes() != raw:
                    return RecordProblem(path, "changed while being read; try again")
                return self._rename_aside(path, reason)
        except BusyError:
            return RecordProblem(path, f"damaged ({reason}); left in place while another mpp uses it")
        except OSError as exc:
            return RecordProblem(path, f"damaged ({reason}); could not move it aside: {exc.strerror}")

    def _rename_aside(self, path: Path, reason: str) -> RecordProblem:
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(self._clock()))
        target = path.with_name(f"{path.name}{CORRUPT_MARKER}{stamp}")
        suffix = 1
        while target.exists():
            suffix += 1
            target = path.with_name(f"{path.name}{CORRUPT_MARKER}{stamp}-{suffix}")
        os.rename(path, target)
        fsync_dir(path.parent)
        return RecordProblem(path, f"damaged ({reason})", target)

    # -- writing -----------------------------------------------------------------------------

    def create(self, record: ChannelRecord, *, wait: float = 0.0) -> ChannelRecord:
        """Store a new record (status normally `opening`); refuses to replace an existing one."""
        path = self.path_of(record.channel_id)
        with self.lock(record.channel_id, wait=wait, purpose="recording a new channel"):
            if path.exists():
                raise InputError(f"a local record of channel {record.channel_id} already exists",
                                 channel_id=record.channel_id)
            now = self._clock()
            blank: dict[str, Any] = {**dict.fromkeys(WATERMARKS, 0),
                                     "last_signed_voucher": None, "last_accepted_voucher": None}
            zero = replace(record, **blank)
            record = guard_watermarks(zero, record, self._warn)
            record = replace(record, created_at=record.created_at or now, updated_at=now)
            self.write_staged(StagedRecord(record, _encode(record)))
        return record

    def update(self, channel_id: str, change: Callable[[ChannelRecord], ChannelRecord], *,
               wait: float = 0.0) -> ChannelRecord:
        """Apply `change` to the freshest record under the channel lock; write it atomically."""
        with self.lock(channel_id, wait=wait, purpose="updating the channel"):
            old = self.get(channel_id)
            staged = self.stage(old, change(old))
            if staged is None:
                return old
            self.write_staged(staged)
            return staged.record

    def stage(self, old: ChannelRecord, new: ChannelRecord) -> StagedRecord | None:
        """`update`'s checks and encoding of `new` over `old`, without the write (None: no
        change). For a caller that holds the channel lock and so holds the stored record in
        memory: the metered stream stages each voucher's record from the one it holds instead of
        reading the file back (a read and a parse per voucher), then `write_staged`."""
        if new.channel_id != old.channel_id:
            raise InternalError(f"an update tried to turn channel {old.channel_id} into "
                                f"{new.channel_id}")
        new = guard_watermarks(old, new, self._warn)
        if replace(new, updated_at=old.updated_at) == old:
            return None
        new = replace(new, updated_at=max(self._clock(), old.updated_at))
        return StagedRecord(new, _encode(new))

    def write_staged(self, staged: StagedRecord) -> None:
        """Write a staged record atomically."""
        ensure_private_dir(self.state_dir)
        ensure_private_dir(self.dir)
        atomic_write(self.path_of(staged.record.channel_id), staged.data)

    def forget(self, channel_id: str, *, wait: float = 0.0) -> ChannelRecord:
        """Delete a channel's record (its session key is the wallet's business)."""
        path = self.path_of(channel_id)
        with self.lock(channel_id, wait=wait, purpose="forgetting the channel"):
            record = self.get(channel_id)
            path.unlink()
            fsync_dir(path.parent)
        return record
