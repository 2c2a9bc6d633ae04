"""solana-keygen keypair files: read for `-k/--keypair` and `wallet import`, write for `export`.

A written file is created 0600 through the same atomic temp-and-rename as the state files, and
never replaces an existing file unless asked (solana-keygen's own `--force` habit).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import TYPE_CHECKING

from mppcli.errors import InputError, MalformedError
from mppcli.files.atomic import atomic_write
from mppcli.wallet.keys import keypair_from_secret, keypair_json, parse_secret_text

if TYPE_CHECKING:
    from solders.keypair import Keypair

MAX_FILE_BYTES = 64 * 1024


def read_keypair_file(path: Path) -> Keypair:
    """The keypair in a solana-keygen JSON file (InputError naming the file when it is not one)."""
    path = path.expanduser()
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise InputError(f"cannot read keypair file {path}: {exc.strerror}") from None
    if len(data) > MAX_FILE_BYTES:
        raise InputError(f"{path} is too large to be a keypair file")
    try:
        return keypair_from_secret(parse_secret_text(data.decode("utf-8")))
    except (MalformedError, UnicodeDecodeError) as exc:
        reason = str(exc) if isinstance(exc, MalformedError) else "not UTF-8 text"
        raise InputError(f"{path} is not a usable keypair file: {reason}",
                         hint="Expected a solana-keygen JSON array of 64 numbers.") from None


def is_private(path: Path) -> bool:
    """False when group or others may read the file (worth a warning for a key)."""
    try:
        mode = path.expanduser().stat().st_mode
    except OSError:
        return True
    return not mode & (stat.S_IRWXG | stat.S_IRWXO)


def write_keypair_file(path: Path, keypair: Keypair, *, overwrite: bool = False) -> Path:
    """Write the solana-keygen JSON of `keypair` to `path`, mode 0600, atomically."""
    path = path.expanduser()
    if path.is_dir():
        raise InputError(f"{path} is a directory")
    if path.exists() and not overwrite:
        raise InputError(f"{path} already exists", hint="Choose another file, or pass --force.")
    if not path.parent.is_dir():
        raise InputError(f"directory {path.parent} does not exist")
    try:
        atomic_write(path, keypair_json(keypair).encode(), mode=0o600)
    except OSError as exc:
        raise InputError(f"cannot write {path}: {exc.strerror}") from None
    return Path(os.path.abspath(path))
