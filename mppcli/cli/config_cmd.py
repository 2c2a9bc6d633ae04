"""`mpp config get|set|unset|list`: the defaults in config.toml, and where each value comes from."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from mppcli.cli.env import Env
from mppcli.cli.options import JsonOpt
from mppcli.cli.output import Outcome
from mppcli.cli.runtime import run

if TYPE_CHECKING:
    from mppcli.config import Setting


def _complete_key(incomplete: str) -> list[str]:
    from mppcli.config import SPECS

    return [key for key in SPECS if key.startswith(incomplete)]


KeyArg = Annotated[str, typer.Argument(metavar="KEY", help="Setting name (see `mpp config list`).",
                                       autocompletion=_complete_key)]

config_app = typer.Typer(
    name="config",
    help="Defaults in config.toml: get, set, unset, list. Flags and MPP_* variables still win.",
    no_args_is_help=True,
)


def _key(key: str) -> str:
    """Accept `rpc-url` for `rpc_url`: flags are spelled with hyphens, keys with underscores."""
    from mppcli.config import SPECS

    underscored = key.replace("-", "_")
    return underscored if underscored in SPECS else key


def _with_default_wallet(env: Env, setting: Setting) -> Setting:
    """The `wallet` setting lives in wallets.json (`mpp wallet default`) unless a flag or MPP_WALLET
    names one: show that default instead of "(not set)", so `config` and `wallet list` agree."""
    if setting.key != "wallet" or setting.value is not None:
        return setting
    from mppcli.config import Setting
    from mppcli.wallet.keystore import Keystore

    default = Keystore(env.paths).default()
    return Setting("wallet", default.name if default else None, "default")


@config_app.command("get")
def get_cmd(ctx: typer.Context, key: KeyArg, json: JsonOpt = False) -> None:
    """Print one setting's value (empty when unset); --json adds where it came from."""

    def action(env: Env) -> Outcome:
        from mppcli.config import load_settings, spec_for

        spec = spec_for(_key(key))
        setting = _with_default_wallet(env, load_settings(env.paths, env.environ).get(spec.key))
        if setting.value is None:
            env.info(f"{spec.key} is not set ({spec.help})")
        return Outcome(setting.to_json(), human=setting.value or "")

    run(ctx, json, action)


@config_app.command("set")
def set_cmd(
    ctx: typer.Context,
    key: KeyArg,
    value: Annotated[str, typer.Argument(metavar="VALUE", help="The new value.")],
    json: JsonOpt = False,
) -> None:
    """Store a default in config.toml (checked first; RPC monikers are stored as their URL)."""

    def action(env: Env) -> Outcome:
        from mppcli.config import set_value, spec_for

        spec = spec_for(_key(key))
        if not spec.stored:
            return _set_default_wallet(env, value)
        setting = set_value(env.paths, spec.key, value)
        override = spec.env if env.environ.get(spec.env) else None
        if override:
            env.warn(f"{override} is set in the environment and overrides this value")
        data = {**setting.to_json(), "configFile": str(env.paths.config_file), "overriddenBy": override}
        return Outcome(data, human=f"{setting.key} = {setting.value}  (in {env.paths.config_file})")

    run(ctx, json, action)


def _set_default_wallet(env: Env, name: str) -> Outcome:
    """`config set wallet NAME` is `wallet default NAME`: one place holds the default wallet."""
    from mppcli.config import spec_for, unset_value
    from mppcli.wallet.keystore import Keystore

    spec = spec_for("wallet")
    try:
        checked = spec.check(name)
    except ValueError as exc:
        from mppcli.errors import ConfigError

        raise ConfigError(f"bad value for wallet: {exc}", hint=f"wallet: {spec.help}.") from None
    info = Keystore(env.paths).set_default(checked)
    unset_value(env.paths, "wallet")  # a value older versions kept in config.toml would disagree
    override = spec.env if env.environ.get(spec.env) else None
    if override:
        env.warn(f"{override} is set in the environment and overrides the default wallet")
    data = {"key": "wallet", "value": info.name, "source": "config", "configFile": str(env.paths.config_file),
            "overriddenBy": override}
    return Outcome(data, human=f"wallet = {info.name}  (the default wallet, as `mpp wallet default` sets it)")


@config_app.command("unset")
def unset_cmd(ctx: typer.Context, key: KeyArg, json: JsonOpt = False) -> None:
    """Remove a setting from config.toml, so the environment or the default applies again."""

    def action(env: Env) -> Outcome:
        from mppcli.config import unset_value

        name = _key(key)
        removed = unset_value(env.paths, name)
        human = f"{name} removed from {env.paths.config_file}" if removed else f"{name} was not set"
        if name == "wallet":
            human = ("the default wallet stays as it is (`mpp wallet list`); "
                     "`mpp wallet default NAME` changes it")
        return Outcome({"key": name, "removed": removed, "configFile": str(env.paths.config_file)}, human)

    run(ctx, json, action)


@config_app.command("list")
def list_cmd(ctx: typer.Context, json: JsonOpt = False) -> None:
    """Show every setting with its value and its source (flag, env, config or default)."""

    def action(env: Env) -> Outcome:
        from mppcli.config import load_settings

        settings = tuple(_with_default_wallet(env, s) for s in load_settings(env.paths, env.environ).all())
        width = max(len(s.key) for s in settings)
        lines = [f"{s.key:<{width}}  {s.value if s.value is not None else '(not set)'}  [{s.source}]"
                 for s in settings]
        data = {"configFile": str(env.paths.config_file), "settings": [s.to_json() for s in settings]}
        return Outcome(data, human="\n".join(lines))

    run(ctx, json, action)


def register(app: typer.Typer) -> None:
    """Add `mpp config` to `app`."""
    app.add_typer(config_app)
