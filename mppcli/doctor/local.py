"""Doctor's probes of this machine: versions, keyring, paths and permissions, config, wallets."""

from __future__ import annotations

import os
import platform
import re
import secrets
import stat
import sys
import time
from importlib import metadata
from pathlib import Path

from mppcli import __version__
from mppcli.config import Setting, Settings, load_settings, resolve_setting
from mppcli.doctor.checks import Check, DoctorInput
from mppcli.errors import MppError
from mppcli.paths import Paths

# Backends that "work" but keep secrets in plain files or nowhere: never good enough for keys.
_UNSAFE_BACKENDS = ("keyrings.alt", "keyring.backends.fail", "keyring.backends.null")


def check_versions() -> Check:
    """Python, mppcli, and every runtime dependency mppcli declares (missing ones fail)."""
    packages: dict[str, str | None] = {}
    for name in _declared_dependencies():
        try:
            packages[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            packages[name] = None
    missing = sorted(name for name, version in packages.items() if version is None)
    data = {"mpp": __version__, "python": platform.python_version(),
            "implementation": platform.python_implementation(), "executable": sys.executable,
            "packages": packages}
    summary = f"mpp {__version__}, Python {platform.python_version()} ({sys.executable})"
    if missing:
        return Check("versions", "fail", f"{summary}; missing: {', '.join(missing)}", data,
                     hint="Reinstall mppcli (pip install mppcli) so its dependencies are present.")
    return Check("versions", "ok", summary, data)


def _declared_dependencies() -> list[str]:
    try:
        requires = metadata.requires("mppcli") or []
    except metadata.PackageNotFoundError:
        return []
    names = [re.split(r"[\s;<>=!~\[(]", req, maxsplit=1)[0] for req in requires if "extra ==" not in req]
    return sorted(set(names))


def check_keyring(given: DoctorInput) -> Check:
    """Which backend keyring picked, and a write-read-delete probe under a throwaway account."""
    from mppcli.wallet.secret_store import SecretStore

    store = SecretStore(given.paths.keyring_service, timeout=given.timeout)
    data: dict[str, object] = {"service": store.service}
    try:
        backend = store.backend_name()
        data["backend"] = backend
        started = time.monotonic()
        probe_ok = _probe(store)
        data["probeMs"] = round((time.monotonic() - started) * 1000)
    except MppError as exc:
        data["probe"] = "failed"
        return Check("keyring", "fail", exc.message, data, hint=exc.hint)
    data["probe"] = "ok" if probe_ok else "mismatch"
    if backend.startswith(_UNSAFE_BACKENDS):
        return Check("keyring", "fail", f"{backend} does not keep secrets safely", data,
                     hint="Use a real OS keyring (Secret Service, macOS Keychain, Windows Credential "
                          "Manager); set PYTHON_KEYRING_BACKEND if keyring picks the wrong one.")
    if not probe_ok:
        return Check("keyring", "fail", f"{backend}: a value written could not be read back", data,
                     hint="The keyring is not storing entries; check that it is unlocked.")
    return Check("keyring", "ok", f"{backend}: write-read-delete probe passed", data)


def _probe(store: object) -> bool:
    account = f"doctor-probe:{secrets.token_hex(8)}"
    value = secrets.token_urlsafe(24)
    store.set(account, value)  # type: ignore[attr-defined]
    try:
        return bool(store.get(account) == value)  # type: ignore[attr-defined]
    finally:
        store.delete(account)  # type: ignore[attr-defined]


def check_paths(paths: Paths) -> Check:
    """Each directory and file mpp keeps: present, its mode, and private to this user."""
    from mppcli.wallet.index import WalletIndex

    entries = [("config", paths.config_dir), ("state", paths.state_dir), ("data", paths.data_dir),
               ("channels", paths.channels_dir), ("configFile", paths.config_file),
               ("wallets", WalletIndex(paths).path)]
    items = [_path_item(name, path) for name, path in entries]
    exposed = [item for item in items if item["exists"] and not item["private"]]
    summary = ", ".join(f"{item['name']} {item['path']} ({item['mode'] or 'absent'})"
                        for item in items[:3])
    if exposed:
        fixes = "; ".join(f"chmod {'700' if item['dir'] else '600'} {item['path']}" for item in exposed)
        shown = ", ".join(str(item["path"]) for item in exposed)
        return Check("paths", "warn", f"readable by other users: {shown}", {"paths": items},
                     hint=f"Make them private: {fixes}")
    return Check("paths", "ok", summary, {"paths": items})


def _path_item(name: str, path: Path) -> dict[str, object]:
    try:
        info = path.stat()
    except FileNotFoundError:
        return {"name": name, "path": str(path), "exists": False, "dir": None, "mode": None,
                "private": None}
    private = info.st_mode & 0o077 == 0 and info.st_uid == os.getuid()
    return {"name": name, "path": str(path), "exists": True, "dir": stat.S_ISDIR(info.st_mode),
            "mode": f"{stat.S_IMODE(info.st_mode):04o}", "private": private}


def check_config(given: DoctorInput) -> tuple[Check, Settings | None]:
    """Every setting with its source; an unusable config.toml or MPP_* variable fails."""
    data: dict[str, object] = {"file": str(given.paths.config_file)}
    try:
        settings = load_settings(given.paths, given.environ, {"rpc_url": given.rpc_flag})
    except MppError as exc:
        return Check("config", "fail", exc.message, data, hint=exc.hint), None
    data["settings"] = [s.to_json() for s in settings.all()]
    shown = ", ".join(f"{s.key}={s.value} ({s.source})" for s in settings.all() if s.value is not None)
    return Check("config", "ok", shown, data), settings


def rpc_url_of(given: DoctorInput, settings: Settings | None) -> Setting | None:
    """The RPC URL to probe: from the settings, or resolved on its own when the config is broken."""
    if settings is not None:
        return settings.rpc_url
    try:
        return resolve_setting(given.paths, given.environ, "rpc_url", given.rpc_flag)
    except MppError:
        return None


def check_wallets(given: DoctorInput, settings: Settings | None) -> Check:
    """Wallet names and public keys (from the public index: no keyring access, no secrets)."""
    from mppcli.wallet.keystore import Keystore

    try:
        wallets = Keystore(given.paths).list()
    except MppError as exc:
        return Check("wallets", "fail", exc.message, hint=exc.hint)
    listed = [w.to_json() for w in wallets]
    if not wallets:
        return Check("wallets", "warn", "no wallets yet", {"wallets": listed},
                     hint="Create one with `mpp wallet new`, or import one with `mpp wallet import`.")
    chosen = settings.wallet.value if settings is not None else None
    names = ", ".join(f"{w.name}{' (default)' if w.default else ''} {w.pubkey}" for w in wallets)
    if chosen is not None and all(w.name != chosen for w in wallets):
        return Check("wallets", "warn", f"the configured wallet {chosen!r} does not exist; have {names}",
                     {"wallets": listed},
                     hint=f"`mpp config set wallet NAME` with one of the listed names, or create {chosen!r}.")
    return Check("wallets", "ok", names, {"wallets": listed})
