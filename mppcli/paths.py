"""Where mpp keeps its config, state and data.

Precedence (most explicit first): `MPP_HOME` puts everything under one root (tests and portable
setups use it, and it also namespaces the keyring); otherwise platformdirs' per-user directories,
which honour `XDG_*` on Linux.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

APP_NAME = "mpp"
KEYRING_SERVICE_BASE = "mppcli"


@dataclass(frozen=True)
class Paths:
    """The directories of one mpp installation (or one `MPP_HOME`)."""

    config_dir: Path
    state_dir: Path
    data_dir: Path
    home_override: Path | None

    @property
    def config_file(self) -> Path:
        return self.config_dir / "config.toml"

    @property
    def channels_dir(self) -> Path:
        return self.state_dir / "channels"

    @property
    def keyring_service(self) -> str:
        """The keyring service name; a distinct one per MPP_HOME so tests never touch real wallets."""
        if self.home_override is None:
            return KEYRING_SERVICE_BASE
        digest = hashlib.sha256(str(self.home_override.resolve()).encode()).hexdigest()[:12]
        return f"{KEYRING_SERVICE_BASE}:{digest}"


def resolve_paths(environ: dict[str, str] | None = None) -> Paths:
    """Compute the directories from the environment (nothing is created here)."""
    env = os.environ if environ is None else environ
    home = env.get("MPP_HOME")
    if home:
        root = Path(home).expanduser()
        return Paths(root / "config", root / "state", root / "data", root)
    import platformdirs

    return Paths(
        Path(platformdirs.user_config_dir(APP_NAME)),
        Path(platformdirs.user_state_dir(APP_NAME)),
        Path(platformdirs.user_data_dir(APP_NAME)),
        None,
    )


def ensure_private_dir(path: Path) -> Path:
    """Create `path` with mode 0700 and return it; parents it has to create are 0700 too
    (`mkdir(parents=True)` would leave them at the umask's 0755, which doctor flags)."""
    missing = []
    parent = path.parent
    while not parent.exists() and parent != parent.parent:
        missing.append(parent)
        parent = parent.parent
    for directory in reversed(missing):
        directory.mkdir(mode=0o700, exist_ok=True)
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(path, 0o700)
    return path
