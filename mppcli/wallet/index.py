"""The list of wallet names, their public keys and the default: `wallets.json` in the config dir.

Public data only (the secrets are keyring entries); it exists so `wallet list`/`show` work
without unlocking the keyring, and so names can be listed at all (keyring has no enumeration).
Changes go through `WalletIndex.change` under a cross-process lock, written atomically.
"""

from __future__ import annotations

import contextlib
import json
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from mppcli.errors import ConfigError, InputError
from mppcli.files.atomic import atomic_write
from mppcli.files.locks import file_lock
from mppcli.paths import Paths, ensure_private_dir

INDEX_VERSION = 1
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


@dataclass(frozen=True)
class WalletInfo:
    name: str
    pubkey: str
    default: bool = False
    created_at: float = 0.0

    def to_json(self) -> dict[str, object]:
        return {"name": self.name, "pubkey": self.pubkey, "default": self.default}


@dataclass(frozen=True)
class IndexState:
    wallets: tuple[WalletInfo, ...]
    default: str | None

    def find(self, name: str) -> WalletInfo | None:
        return next((w for w in self.wallets if w.name == name), None)

    def listed(self) -> tuple[WalletInfo, ...]:
        return tuple(replace(w, default=w.name == self.default) for w in self.wallets)


def check_name(name: str) -> str:
    if not NAME.fullmatch(name):
        raise InputError(f"invalid wallet name {name!r}",
                         hint="Use 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit.")
    return name


class WalletIndex:
    """Reads and changes `wallets.json`."""

    def __init__(self, paths: Paths, clock: Callable[[], float] = time.time):
        self.path = paths.config_dir / "wallets.json"
        self._config_dir = paths.config_dir
        self._lock_path = paths.state_dir / "locks" / "wallets.lock"
        self._clock = clock

    def read(self) -> IndexState:
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return IndexState((), None)
        except OSError as exc:
            raise ConfigError(f"cannot read {self.path}: {exc.strerror}") from None
        return _parse(self.path, raw)

    @contextlib.contextmanager
    def change(self, wait: float = 5.0) -> Iterator[_Change]:
        """Hold the index lock; the block edits `Change.state`, written back when it ends cleanly."""
        ensure_private_dir(self._lock_path.parent.parent)
        ensure_private_dir(self._lock_path.parent)
        with file_lock(self._lock_path, "changing the wallet list", wait=wait, what="the wallet list"):
            change = _Change(self.read())
            yield change
            if change.dirty:
                ensure_private_dir(self._config_dir)
                atomic_write(self.path, _dump(change.state))

    def now(self) -> float:
        return self._clock()


class _Change:
    def __init__(self, state: IndexState):
        self.state = state
        self.dirty = False

    def set(self, state: IndexState) -> None:
        self.state, self.dirty = state, True


def _parse(path: Path, raw: bytes) -> IndexState:
    try:
        doc = json.loads(raw)
        if doc.get("version") != INDEX_VERSION:
            raise ValueError(f"unsupported version {doc.get('version')!r}")
        wallets = tuple(_wallet(entry) for entry in doc["wallets"])
        default = doc.get("default")
        if default is not None and not any(w.name == default for w in wallets):
            raise ValueError("the default names no listed wallet")
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ConfigError(f"{path} is damaged: {exc}",
                          hint="Fix or remove it; the keys themselves are in the OS keyring.") from None
    return IndexState(wallets, default)


def _wallet(entry: Any) -> WalletInfo:
    name = entry["name"]
    if not isinstance(name, str) or not NAME.fullmatch(name):
        raise ValueError(f"invalid wallet name {name!r}")
    return WalletInfo(name, str(entry["pubkey"]), created_at=float(entry.get("createdAt", 0)))


def _dump(state: IndexState) -> bytes:
    doc = {"version": INDEX_VERSION, "default": state.default,
           "wallets": [{"name": w.name, "pubkey": w.pubkey, "createdAt": w.created_at}
                       for w in state.wallets]}
    return (json.dumps(doc, indent=2) + "\n").encode()
