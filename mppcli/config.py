"""User settings: `config.toml`, the `MPP_*` environment and command-line flags, merged.

Precedence, most explicit first (as click's `ParameterSource` orders them): a flag, then the
`MPP_*` variable, then `config.toml` in the config dir, then the built-in default. Every resolved
value keeps its source, so `mpp config list` and `mpp doctor` can say where it came from.

This module is on the start-up path of every command (the root reads `output`), so it imports
the stdlib and `mppcli.errors`/`paths` only; the wallet-name check, writing and locking load
what they need when they run.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from mppcli.chain.endpoints import RPC_URLS
from mppcli.errors import ConfigError, UsageError
from mppcli.paths import Paths, ensure_private_dir

Source = Literal["flag", "env", "config", "default"]

# Solana CLI habits: the same monikers as `solana config set --url`, plus the challenge's network
# names. The URLs come from `chain.endpoints` (solders-free), the table `chain.networks` uses too.
RPC_MONIKERS: dict[str, str] = {
    "mainnet-beta": RPC_URLS["mainnet"],
    "devnet": RPC_URLS["devnet"],
    "testnet": RPC_URLS["testnet"],
    "localhost": RPC_URLS["localnet"],
}
_MONIKER_ALIASES = {"m": "mainnet-beta", "mainnet": "mainnet-beta", "d": "devnet", "t": "testnet",
                    "l": "localhost", "localnet": "localhost"}

CONFIRM_POLICIES = ("first-open", "always", "never")
OUTPUT_MODES = ("text", "json")
_TOKEN_AMOUNT = re.compile(r"[0-9]+(\.[0-9]+)?")
_URL = re.compile(r"https?://[^\s/?#]+(/\S*)?")


def resolve_rpc_url(url_or_moniker: str) -> str:
    """A moniker (`devnet`, `d`, ...) becomes its URL; an http(s) URL is returned as given."""
    text = url_or_moniker.strip()
    name = _MONIKER_ALIASES.get(text, text)
    if name in RPC_MONIKERS:
        return RPC_MONIKERS[name]
    if _URL.fullmatch(text):
        return text
    raise ValueError(
        f"{url_or_moniker!r} is neither an http(s) URL nor a moniker "
        "(mainnet-beta/m, devnet/d, testnet/t, localhost/l)"
    )


def _check_wallet(text: str) -> str:
    from mppcli.errors import InputError
    from mppcli.wallet.index import check_name  # the wallet package owns the naming rule

    try:
        return check_name(text)
    except InputError as exc:
        raise ValueError(f"{exc.message}; {exc.hint}") from None


BUDGET_PERIODS = ("hour", "day", "week", "month")


def is_token_amount(text: str) -> bool:
    """Digits with an optional fraction, as a user writes an amount in token units (`0.25`, `10`)."""
    return bool(_TOKEN_AMOUNT.fullmatch(text))


def _check_budget(text: str) -> str:
    """`AMOUNT/PERIOD` in token units, such as 5/day (see mppcli.cli.budget)."""
    amount, sep, period = text.strip().partition("/")
    if not sep or not is_token_amount(amount) or period not in BUDGET_PERIODS:
        raise ValueError(f"{text!r} is not AMOUNT/PERIOD such as 5/day "
                         f"(periods: {', '.join(BUDGET_PERIODS)})")
    return text.strip()


def _check_amount(text: str) -> str:
    if not is_token_amount(text.strip()):
        raise ValueError(f"{text!r} is not an amount in token units such as 0.25 or 10")
    return text.strip()


def _check_seconds(text: str) -> str:
    if not re.fullmatch(r"[0-9]+", text.strip()):
        raise ValueError(f"{text!r} is not a whole number of seconds")
    return str(int(text.strip()))


def _check_bool(text: str) -> str:
    value = text.strip().lower()
    if value in ("true", "yes", "1", "on"):
        return "true"
    if value in ("false", "no", "0", "off"):
        return "false"
    raise ValueError(f"{text!r} is not true or false")


def _one_of(choices: tuple[str, ...]) -> Callable[[str], str]:
    def check(text: str) -> str:
        if text.strip() not in choices:
            raise ValueError(f"{text!r} is not one of: {', '.join(choices)}")
        return text.strip()

    return check


@dataclass(frozen=True)
class SettingSpec:
    """One setting: its key, variable, default and the check that normalises a raw value."""

    key: str
    env: str
    default: str | None
    help: str
    check: Callable[[str], str]
    stored: bool = True  # False: config.toml does not hold it (the default wallet is wallets.json's)


SPECS: dict[str, SettingSpec] = {
    spec.key: spec
    for spec in (
        SettingSpec("wallet", "MPP_WALLET", None,
                    "keyring wallet to pay with (the default wallet, as `mpp wallet default` sets it)",
                    _check_wallet, stored=False),
        SettingSpec("rpc_url", "MPP_RPC_URL", RPC_MONIKERS["mainnet-beta"],
                    "Solana RPC URL or moniker (mainnet-beta/m, devnet/d, testnet/t, localhost/l)",
                    resolve_rpc_url),
        SettingSpec("max_spend", "MPP_MAX_SPEND", None,
                    "most one command may spend, in token units such as 0.25 (unset: no cap)",
                    _check_amount),
        SettingSpec("confirm", "MPP_CONFIRM", "first-open",
                    "when to ask before locking funds: first-open|always|never", _one_of(CONFIRM_POLICIES)),
        SettingSpec("output", "MPP_OUTPUT", "text", "default output: text|json", _one_of(OUTPUT_MODES)),
        SettingSpec("max_grace_period", "MPP_MAX_GRACE_PERIOD", "86400",
                    "longest forced-close grace period (seconds) a deposit may be opened under",
                    _check_seconds),
        SettingSpec("allow_http", "MPP_ALLOW_HTTP", "false",
                    "send payment credentials over plain http:// to non-loopback hosts: true|false",
                    _check_bool),
        SettingSpec("budget", "MPP_BUDGET", None,
                    "spend limit across commands, AMOUNT/PERIOD in token units such as 5/day "
                    "(periods: hour, day, week, month; unset: none)", _check_budget),
    )
}


@dataclass(frozen=True)
class Setting:
    """A resolved setting: its value (None when unset) and where that value came from."""

    key: str
    value: str | None
    source: Source

    def to_json(self) -> dict[str, object]:
        return {"key": self.key, "value": self.value, "source": self.source}


@dataclass(frozen=True)
class Settings:
    """Every setting, resolved once per command."""

    wallet: Setting
    rpc_url: Setting
    max_spend: Setting
    confirm: Setting
    output: Setting
    max_grace_period: Setting
    allow_http: Setting
    budget: Setting

    def get(self, key: str) -> Setting:
        setting: Setting = getattr(self, spec_for(key).key)
        return setting

    def all(self) -> tuple[Setting, ...]:
        return tuple(self.get(key) for key in SPECS)


def spec_for(key: str) -> SettingSpec:
    """The spec of `key`, or E_CONFIG naming the known keys (and the closest one)."""
    spec = SPECS.get(key)
    if spec is not None:
        return spec
    raise ConfigError(f"unknown setting {key!r}", hint=f"{spec_hint(key)}Known settings: {', '.join(SPECS)}.")


def spec_hint(key: str) -> str:
    """'Did you mean ...? ' for a mistyped key, or ''."""
    import difflib

    close = difflib.get_close_matches(key.replace("-", "_"), SPECS, n=1)
    return f"Did you mean {close[0]!r}? " if close else ""


def load_settings(paths: Paths, environ: Mapping[str, str],
                  flags: Mapping[str, str | None] | None = None) -> Settings:
    """Resolve every setting: flag > MPP_* > config.toml > default."""
    given = flags or {}
    for key in given:
        spec_for(key)
    stored = read_config(paths)
    resolved = {key: _resolve(spec, given.get(key), environ, stored, paths) for key, spec in SPECS.items()}
    return Settings(**resolved)


def resolve_setting(paths: Paths, environ: Mapping[str, str], key: str, flag: str | None = None) -> Setting:
    """Resolve one setting only; the others are not read, so their errors do not surface here."""
    spec = spec_for(key)
    stored = {} if flag is not None or environ.get(spec.env) else read_config(paths)
    return _resolve(spec, flag, environ, stored, paths)


def _resolve(spec: SettingSpec, flag: str | None, environ: Mapping[str, str],
             stored: Mapping[str, str], paths: Paths) -> Setting:
    if flag is not None:
        value = _checked(spec, flag, f"bad {spec.key} on the command line", f"{spec.key}: {spec.help}.",
                         UsageError)
        return Setting(spec.key, value, "flag")
    if environ.get(spec.env):
        value = _checked(spec, environ[spec.env], f"bad {spec.env}",
                         f"Fix or unset {spec.env} ({spec.key}: {spec.help}).")
        return Setting(spec.key, value, "env")
    if spec.stored and spec.key in stored:
        value = _checked(spec, stored[spec.key], f"bad {spec.key} in {paths.config_file}",
                         f"Fix it with `mpp config set {spec.key} VALUE` or `mpp config unset {spec.key}`.")
        return Setting(spec.key, value, "config")
    return Setting(spec.key, spec.default, "default")


def _checked(spec: SettingSpec, raw: str, what: str, hint: str,
             error: type[ConfigError] | type[UsageError] = ConfigError) -> str:
    try:
        return spec.check(raw)
    except ValueError as exc:
        raise error(f"{what}: {exc}", hint=hint) from None


# Tables of config.toml that belong to one command (`[serve]`: `mpp serve`'s flags), not settings.
COMMAND_TABLES = ("serve",)


def read_config(paths: Paths) -> dict[str, str]:
    """The settings stored in config.toml ({} when there is none), each key and type checked.

    Command tables (`[serve]`) are read by their command; a `wallet` key from older versions is
    ignored: the default wallet has one home, wallets.json (`mpp wallet default`)."""
    return {key: _stored_text(paths.config_file, key, value) for key, value in _read_raw(paths).items()
            if key not in COMMAND_TABLES and not _unstored(key)}


def _unstored(key: str) -> bool:
    spec = SPECS.get(key)
    return spec is not None and not spec.stored


def _read_raw(paths: Paths) -> dict[str, object]:
    try:
        return tomllib.loads(paths.config_file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read {paths.config_file}: {exc}",
                          hint="Fix or delete the file; `mpp config set` rewrites it.") from None


def _stored_text(path: Path, key: str, value: object) -> str:
    if key not in SPECS:
        hint = spec_hint(key)
        raise ConfigError(f"unknown setting {key!r} in {path}",
                          hint=f"{hint}Remove it with `mpp config unset {key}`.")
    if isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    raise ConfigError(f"{key} in {path} must be a string, not {type(value).__name__}",
                      hint=f'Quote it: {key} = "..." (amounts too: floats are inexact).')


def set_value(paths: Paths, key: str, raw: str) -> Setting:
    """Check `raw`, store it in config.toml (other entries kept) and return it as a config setting."""
    spec = spec_for(key)
    value = _checked(spec, raw, f"bad value for {spec.key}", f"{spec.key}: {spec.help}.")
    with _config_lock(paths):
        stored = _read_raw(paths)
        stored[spec.key] = value
        write_config(paths, stored)
    return Setting(spec.key, value, "config")


def unset_value(paths: Paths, key: str) -> bool:
    """Remove `key` from config.toml (even an unknown one); False when it was not there.

    A command's table (`[serve]`) is refused: it holds the user's own settings, not one key."""
    with _config_lock(paths):
        stored = _read_raw(paths)
        if isinstance(stored.get(key), dict) or key in COMMAND_TABLES:
            raise ConfigError(f"[{key}] is a table of `mpp {key}` settings, not one setting",
                              hint=f"Edit the [{key}] table of {paths.config_file} to change it; "
                                   "`mpp config list` ignores it.")
        if key not in stored:
            spec_for(key)
            return False
        del stored[key]
        write_config(paths, stored)
    return True


def _config_lock(paths: Paths) -> AbstractContextManager[object]:
    """Two `mpp config set` at once must not lose either change (read-modify-write under a lock)."""
    from mppcli.files.locks import file_lock

    locks = ensure_private_dir(paths.state_dir / "locks")
    return file_lock(locks / "config.lock", "changing config.toml", wait=5.0, what="config.toml")


def write_config(paths: Paths, values: Mapping[str, object]) -> None:
    """Replace config.toml with `values`, crash-safe and 0600 (`mppcli.files.atomic`)."""
    import tomli_w

    from mppcli.files.atomic import atomic_write

    ensure_private_dir(paths.config_dir)
    atomic_write(paths.config_file, tomli_w.dumps(dict(values)).encode("utf-8"), 0o600)
