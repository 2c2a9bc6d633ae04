"""`mpp wallet airdrop [AMOUNT] [--token SYMBOL_OR_MINT]`: fund a wallet from a faucet.

SOL comes from the cluster's `requestAirdrop` (the embedded ledger, or devnet); the localnet test
stablecoin (symbol USDC on the embedded ledger) from the ledger's `mpp_mintTestTokens` extension,
which also creates the wallet's token account. AMOUNT is in token units (default 1 SOL, 100 of the
stablecoin). JSON: `signature`, `recipient`, `amount` (base units), `mint` (null for SOL) and
`balances` (SOL and, on the embedded ledger, the test stablecoin).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from mppcli.cli.options import JsonOpt, KeypairOpt, RpcUrlOpt, WalletOpt
from mppcli.cli.runtime import run

if TYPE_CHECKING:
    from solders.pubkey import Pubkey

    from mppcli.cli.env import Env
    from mppcli.cli.output import Outcome
    from mppcli.rpc import Rpc

SOL_DECIMALS = 9
DEFAULT_SOL = "1"
DEFAULT_TOKENS = "100"
CONFIRM_TIMEOUT = 60.0

AmountArg = Annotated[str | None, typer.Argument(
    help="How much, in token units (default: 1 SOL, or 100 of the test stablecoin).")]
TokenOpt = Annotated[str | None, typer.Option(
    "--token", help="The localnet test stablecoin, by symbol (USDC) or mint address; default SOL.")]
ToOpt = Annotated[str | None, typer.Option(
    "--to", help="Fund this address instead of a wallet (no key needed).")]


def register_airdrop(wallet_app: typer.Typer) -> None:
    """Add `airdrop` to `mpp wallet` (called by cli/wallet.py)."""
    wallet_app.command("airdrop")(airdrop_cmd)


def airdrop_cmd(ctx: typer.Context, amount: AmountArg = None, token: TokenOpt = None,
                wallet: WalletOpt = None, keypair: KeypairOpt = None, to: ToOpt = None,
                url: RpcUrlOpt = None, json: JsonOpt = False) -> None:
    """Fund a wallet on localnet (SOL and the test stablecoin) or devnet (SOL).

    Without -u (and no rpc_url configured) it asks localnet, http://127.0.0.1:8899, where
    `mpp serve` and `mpp localnet` put their ledger."""
    def action(env: Env) -> Outcome:
        import asyncio

        recipient = _recipient(env, wallet, keypair, to)
        rpc_url = _rpc_url(env, url)
        return asyncio.run(_airdrop(rpc_url, recipient, amount, token))
    run(ctx, json, action)


def _recipient(env: Env, wallet: str | None, keypair: Path | None, to: str | None) -> Pubkey:
    from solders.pubkey import Pubkey

    from mppcli.errors import InputError, UsageError

    if to is not None:
        if wallet is not None or keypair is not None:
            raise UsageError("--to excludes -w/--wallet and -k/--keypair")
        try:
            return Pubkey.from_string(to)
        except ValueError:
            raise InputError(f"--to {to!r} is not a base58 public key") from None
    from mppcli.payer import resolve_payer

    return resolve_payer(env.paths, wallet, keypair, environ=env.environ).pubkey


def _rpc_url(env: Env, flag: str | None) -> str:
    """The RPC asked for; with none configured, localnet's (mainnet has no faucet)."""
    from mppcli.chain.endpoints import RPC_URLS
    from mppcli.config import load_settings

    setting = load_settings(env.paths, env.environ, {"rpc_url": flag}).rpc_url
    return RPC_URLS["localnet"] if setting.source == "default" else str(setting.value)


async def _airdrop(url: str, recipient: Pubkey, amount: str | None, token: str | None) -> Outcome:
    from mppcli.rpc import Rpc

    async with Rpc(url) as rpc:
        ledger = await rpc.ledger_info()
        if token is None:
            mint, base_units = None, _parse(amount or DEFAULT_SOL, SOL_DECIMALS)
            signature = await rpc.request_airdrop(recipient, base_units)
        else:
            mint, decimals = _test_mint(url, ledger, token)
            base_units = _parse(amount or DEFAULT_TOKENS, decimals)
            signature = await rpc.faucet_mint(recipient, base_units, mint)
        await rpc.confirm(signature, CONFIRM_TIMEOUT)
        balances = await _balances(rpc, recipient, ledger)
    return _outcome(signature, recipient, base_units, mint, balances)


def _parse(text: str, decimals: int) -> int:
    from mppcli.errors import InputError, MalformedError
    from mppcli.protocol.amounts import parse_amount

    try:
        value = parse_amount(text, decimals)
    except MalformedError as exc:
        raise InputError(str(exc)) from None
    if value == 0:
        raise InputError("the amount must be greater than zero")
    return value


def _test_mint(url: str, ledger: dict[str, Any] | None, token: str) -> tuple[str, int]:
    from mppcli.errors import InputError

    if ledger is None:
        raise InputError(f"{url} has no token faucet: --token works only on the embedded localnet ledger",
                         hint="Run `mpp localnet` (or `mpp serve`) and point -u at its rpcUrl.")
    if token.upper() != str(ledger["symbol"]).upper() and token != ledger["mint"]:
        raise InputError(f"the localnet faucet mints only {ledger['symbol']} ({ledger['mint']}), not {token}")
    return str(ledger["mint"]), int(ledger["decimals"])


async def _balances(rpc: Rpc, owner: Pubkey, ledger: dict[str, Any] | None) -> list[dict[str, Any]]:
    from solders.pubkey import Pubkey

    from mppcli.chain.pda import associated_token_address

    found = [_balance("SOL", None, await rpc.balance(owner), SOL_DECIMALS)]
    if ledger is not None:
        mint = Pubkey.from_string(ledger["mint"])
        ata = associated_token_address(owner, mint, Pubkey.from_string(ledger["tokenProgram"]))
        held = await rpc.token_balance(ata) if await rpc.account(ata) is not None else 0
        found.append(_balance(str(ledger["symbol"]), str(mint), held, int(ledger["decimals"])))
    return found


def _balance(symbol: str, mint: str | None, amount: int, decimals: int) -> dict[str, Any]:
    from mppcli.protocol.amounts import format_amount

    return {"symbol": symbol, "mint": mint, "amount": str(amount), "decimals": decimals,
            "display": format_amount(amount, decimals, symbol)}


def _outcome(signature: str, recipient: Pubkey, base_units: int, mint: str | None,
             balances: list[dict[str, Any]]) -> Outcome:
    from mppcli.cli.output import Outcome
    from mppcli.protocol.amounts import format_amount

    data = {"signature": signature, "recipient": str(recipient), "amount": str(base_units), "mint": mint,
            "balances": balances}
    what = next(b for b in balances if b["mint"] == mint)
    human = (f"airdropped {format_amount(base_units, what['decimals'], what['symbol'])} to {recipient}\n"
             f"signature: {signature}\n"
             f"balances: {', '.join(b['display'] for b in balances)}")
    return Outcome(data, human)
