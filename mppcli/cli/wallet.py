"""`mpp wallet …`: payer keys in the OS keyring (new, import, list, show, default, export, remove).

Secrets only ever go to the keyring, to an export file (0600) or, for `export` without `--out`,
to stdout because the user asked for exactly that. Keyring, solders and the RPC are imported
inside the commands.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from mppcli.cli.options import JsonOpt, RpcUrlOpt, YesOpt, complete_wallet
from mppcli.cli.output import Outcome
from mppcli.cli.runtime import run

if TYPE_CHECKING:
    from mppcli.cli.budget import Standing
    from mppcli.cli.env import Env
    from mppcli.wallet.index import WalletInfo
    from mppcli.wallet.keystore import Keystore

wallet_app = typer.Typer(name="wallet", help="Payer wallets in the OS keyring.", no_args_is_help=True)

NameArg = Annotated[str, typer.Argument(metavar="NAME", help="Wallet name.", autocompletion=complete_wallet)]
DefaultOpt = Annotated[bool, typer.Option("--default", help="Make it the default wallet.")]
ForceOpt = Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")]


def register(app: typer.Typer) -> None:
    """Add `mpp wallet` (and `wallet airdrop` when that module is present)."""
    if importlib.util.find_spec("mppcli.cli.airdrop") is not None:
        from mppcli.cli import airdrop  # type: ignore[attr-defined,unused-ignore]

        airdrop.register_airdrop(wallet_app)
    app.add_typer(wallet_app)


def confirm(env: Env, question: str, yes: bool) -> None:
    """Ask on a terminal; without one, refuse unless `--yes` (CLI.md: never prompt without a TTY)."""
    from mppcli.errors import ConfirmationRequired, PolicyError

    if yes:
        return
    if not env.can_prompt:
        raise ConfirmationRequired(f"{question} Confirmation is needed and there is no terminal to ask on.")
    print(f"{question} [y/N]: ", end="", file=env.stderr, flush=True)
    answer = sys.stdin.readline()  # not click.confirm: it echoes a space to stdout, our payload stream
    if answer.strip().lower() not in ("y", "yes"):
        raise PolicyError("cancelled: not confirmed", hint="Nothing was changed.")


def _keystore(env: Env) -> Keystore:
    from mppcli.wallet.keystore import Keystore

    return Keystore(env.paths)


def _shown(info: WalletInfo, width: int = 0) -> str:
    return f"{info.name.ljust(width)}  {info.pubkey}{'  (default)' if info.default else ''}"


@wallet_app.command("new")
def new_cmd(ctx: typer.Context,
            name: Annotated[str | None, typer.Argument(
                metavar="NAME", help="Wallet name (default: main, wallet-2, …).")] = None,
            make_default: DefaultOpt = False, json: JsonOpt = False) -> None:
    """Create a wallet: a fresh keypair stored in the OS keyring (the first one becomes the default)."""
    def action(env: Env) -> Outcome:
        info = _keystore(env).create(name, make_default=make_default)
        return Outcome(info.to_json(), f"created wallet {_shown(info)}")
    run(ctx, json, action)


@wallet_app.command("import")
def import_cmd(ctx: typer.Context, name: NameArg,
               keypair: Annotated[Path | None, typer.Option(
                   "--keypair", "-k", help="A solana-keygen JSON keypair file.")] = None,
               stdin: Annotated[bool, typer.Option(
                   "--stdin", help="Read a JSON keypair array or a base58 secret from stdin.")] = False,
               make_default: DefaultOpt = False, json: JsonOpt = False) -> None:
    """Import an existing keypair (solana-keygen file, or JSON array / base58 secret on stdin)."""
    def action(env: Env) -> Outcome:
        secret = _read_import_secret(keypair, stdin)
        info = _keystore(env).import_secret(name, secret, make_default=make_default)
        return Outcome({"name": info.name, "pubkey": info.pubkey, "default": info.default},
                       f"imported wallet {_shown(info)}")
    run(ctx, json, action)


def _read_import_secret(keypair: Path | None, stdin: bool) -> bytes:
    from mppcli.errors import InputError, MalformedError, UsageError
    from mppcli.wallet.keypair_file import read_keypair_file
    from mppcli.wallet.keys import parse_secret_text

    if (keypair is None) == (not stdin):
        raise UsageError("give exactly one of --keypair FILE or --stdin")
    if keypair is not None:
        return bytes(read_keypair_file(keypair))
    try:
        return parse_secret_text(sys.stdin.read(64 * 1024))
    except MalformedError as exc:
        raise InputError(f"stdin: {exc}") from None


@wallet_app.command("list")
def list_cmd(ctx: typer.Context, json: JsonOpt = False) -> None:
    """List wallets (names and public keys; no keyring access needed)."""
    def action(env: Env) -> Outcome:
        wallets = _keystore(env).list()
        width = max((len(w.name) for w in wallets), default=0)
        human = "\n".join(_shown(w, width) for w in wallets) or "no wallets (create one: mpp wallet new)"
        return Outcome({"wallets": [w.to_json() for w in wallets]}, human)
    run(ctx, json, action)


@wallet_app.command("show")
def show_cmd(ctx: typer.Context,
             name: Annotated[str | None, typer.Argument(
                 metavar="NAME", help="Wallet name (default: the current one).",
                 autocompletion=complete_wallet)] = None,
             url: RpcUrlOpt = None, json: JsonOpt = False) -> None:
    """Show a wallet's public key, and its balances when the RPC answers."""
    def action(env: Env) -> Outcome:
        from mppcli.config import load_settings
        from mppcli.wallet.balances import fetch_balances

        info = _current_wallet(env, name)
        balances, note = fetch_balances(
            env.paths, lambda: load_settings(env.paths, env.environ, {"rpc_url": url}).rpc_url.value,
            info.pubkey, env.warn)
        data: dict[str, object] = {**info.to_json(), "balances": balances}
        if note:
            data["balancesNote"] = note
        human = [f"wallet   {_shown(info)}"]
        human += [f"balance  {b['display']}" for b in balances or []]
        human += [f"balances {note}"] if note else []
        budget = _budget_standing(env)
        data["budget"] = budget.to_json() if budget else None
        human += [f"budget   {budget.text()}"] if budget else []
        return Outcome(data, "\n".join(human))
    run(ctx, json, action)


def _budget_standing(env: Env) -> Standing | None:
    """The spend budget (`mpp config set budget 5/day`) and what is spent of it, if one is set."""
    from mppcli.cli import budget

    rule = budget.active(env, None)
    return budget.standing(rule, env.clock()) if rule else None


def _current_wallet(env: Env, name: str | None) -> WalletInfo:
    from mppcli.config import load_settings
    from mppcli.errors import ConfigError

    keystore = _keystore(env)
    chosen = name or load_settings(env.paths, env.environ).wallet.value
    if chosen:
        return keystore.get(chosen)
    default = keystore.default()
    if default is None:
        raise ConfigError("no wallet yet", hint="Create one with `mpp wallet new`.")
    return default


@wallet_app.command("default")
def default_cmd(ctx: typer.Context, name: NameArg, json: JsonOpt = False) -> None:
    """Make NAME the default wallet."""
    def action(env: Env) -> Outcome:
        info = _keystore(env).set_default(name)
        return Outcome({"name": info.name}, f"default wallet: {_shown(info)}")
    run(ctx, json, action)


@wallet_app.command("export")
def export_cmd(ctx: typer.Context, name: NameArg,
               out: Annotated[Path | None, typer.Option(
                   "--out", "-o", help="Write a solana-keygen file (mode 0600) instead of stdout.")] = None,
               yes: YesOpt = False, force: ForceOpt = False, json: JsonOpt = False) -> None:
    """Export a wallet's secret key as solana-keygen JSON (asks first; --yes without a terminal)."""
    def action(env: Env) -> Outcome:
        from mppcli.wallet.keypair_file import write_keypair_file

        keystore = _keystore(env)
        info = keystore.get(name)
        where = f"to {out}" if out else "on stdout"
        confirm(env, f"Export the SECRET key of wallet {info.name!r} ({info.pubkey}) {where}?", yes)
        keypair = keystore.keypair(name)
        if out is not None:
            path = write_keypair_file(out, keypair, overwrite=force)
            return Outcome({"name": info.name, "pubkey": info.pubkey, "path": str(path)},
                           f"wrote the keypair of wallet {info.name!r} to {path} (mode 0600)")
        numbers = list(bytes(keypair))
        return Outcome({"name": info.name, "pubkey": info.pubkey, "keypair": numbers},
                       "[" + ",".join(map(str, numbers)) + "]")
    run(ctx, json, action)


@wallet_app.command("remove")
def remove_cmd(ctx: typer.Context, name: NameArg, yes: YesOpt = False,
               force: Annotated[bool, typer.Option(
                   "--force", help="Remove even when live channels are paid from this wallet.")] = False,
               json: JsonOpt = False) -> None:
    """Delete a wallet and its key from the keyring (irreversible without a backup)."""
    def action(env: Env) -> Outcome:
        keystore = _keystore(env)
        info = keystore.get(name)
        _refuse_if_paying(env, info, force)
        confirm(env, f"Delete wallet {info.name!r} ({info.pubkey}) and its key? This cannot be undone.", yes)
        keystore.remove(name)
        return Outcome({"name": info.name}, f"removed wallet {info.name} ({info.pubkey})")
    run(ctx, json, action)


def _refuse_if_paying(env: Env, info: WalletInfo, force: bool) -> None:
    """A live channel needs its payer key to close or recover funds: do not drop it silently."""
    from mppcli.errors import PolicyError
    from mppcli.state.store import ChannelStore

    live = [r for r in ChannelStore(env.paths, warn=env.warn).list(include_closed=False).records
            if r.payer == info.pubkey]
    if live and not force:
        ids = ", ".join(r.channel_id for r in live[:5])
        raise PolicyError(f"wallet {info.name!r} pays {len(live)} live channel(s): {ids}",
                          hint="Close them first (mpp close), export a backup, or pass --force.")
