"""`mpp voucher sign|verify`: the offline voucher tools.

`sign` uses, in order: `-k FILE`, `-w NAME`, the channel's own voucher key when the channel is in
the local record (its session key, or the payer wallet that is its authorized signer), and
otherwise the wallet `resolve_payer` picks (MPP_WALLET, config, default), saying which on stderr.
Signing with a channel's own key above its signed watermark records the new watermark first, so
the local record never trails a voucher that left this process.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from mppcli.cli.options import JsonOpt, KeypairOpt, WalletOpt, complete_channel
from mppcli.cli.output import Outcome
from mppcli.cli.runtime import run

if TYPE_CHECKING:
    from solders.keypair import Keypair

    from mppcli.cli.env import Env
    from mppcli.protocol.voucher import SignedVoucher
    from mppcli.state.record import ChannelRecord

voucher_app = typer.Typer(name="voucher", help="Sign and verify session vouchers offline.",
                          no_args_is_help=True)
MAX_INPUT_BYTES = 1024 * 1024


def register(app: typer.Typer) -> None:
    """Add `mpp voucher`."""
    app.add_typer(voucher_app)


@voucher_app.command("sign")
def sign_cmd(
    ctx: typer.Context,
    channel: Annotated[str, typer.Option("--channel", "-c", metavar="ID", autocompletion=complete_channel,
                                         help="Channel id (or a unique prefix / URL of a local channel).")],
    amount: Annotated[str, typer.Option("--amount", metavar="BASE_UNITS",
                                        help="Cumulative amount in base units (u64 decimal).")],
    expires_at: Annotated[str | None, typer.Option(
        "--expires-at", metavar="UNIX", help="Expiry as unix seconds (0 or absent: never).")] = None,
    wallet: WalletOpt = None,
    keypair: KeypairOpt = None,
    json: JsonOpt = False,
) -> None:
    """Sign a voucher authorizing CUMULATIVE base units on a channel; prints the signed voucher JSON."""
    def action(env: Env) -> Outcome:
        voucher = _voucher(env, channel, amount, expires_at)
        keypair_, source, record = _signer(env, voucher.channel_id, wallet, keypair)
        from mppcli.protocol.voucher import sign_voucher

        signed = sign_voucher(keypair_, voucher)
        if record is not None and signed.signer == record.authorized_signer:
            _record_signed(env, record, signed)
        env.info(f"signed by {signed.signer} ({source})")
        return _signed_outcome(signed)
    run(ctx, json, action)


def _voucher(env: Env, channel: str, amount: str, expires_at: str | None) -> Any:
    from mppcli.errors import InputError, MalformedError
    from mppcli.protocol.encoding import parse_u64
    from mppcli.protocol.voucher import Voucher

    try:
        cumulative = parse_u64(amount, "--amount")
        expiry = None if expires_at is None else parse_u64(expires_at, "--expires-at")
        return Voucher(_channel_id(env, channel), cumulative, expiry)
    except MalformedError as exc:
        raise InputError(str(exc)) from None


def _channel_id(env: Env, reference: str) -> str:
    from mppcli.errors import MalformedError
    from mppcli.protocol.base58 import check_pubkey

    try:
        return check_pubkey(reference, "--channel")
    except MalformedError:
        from mppcli.state.store import ChannelStore

        return ChannelStore(env.paths, warn=env.warn).find(reference).channel_id


def _signer(env: Env, channel_id: str, wallet: str | None,
            keypair_path: Path | None) -> tuple[Keypair, str, ChannelRecord | None]:
    from mppcli.errors import UsageError
    from mppcli.payer import resolve_payer
    from mppcli.state.store import ChannelStore

    if wallet is not None and keypair_path is not None:
        raise UsageError("-w/--wallet and -k/--keypair name two different signers; pass one")
    record = ChannelStore(env.paths, warn=env.warn).load(channel_id)
    if wallet is None and keypair_path is None and record is not None:
        keypair_, source = _channel_key(env, record)
        return keypair_, source, record
    payer = resolve_payer(env.paths, wallet, keypair_path, environ=env.environ)
    for warning in payer.warnings:
        env.warn(warning)
    return payer.keypair, payer.source, record


def _channel_key(env: Env, record: ChannelRecord) -> tuple[Keypair, str]:
    from mppcli.errors import InputError
    from mppcli.state.record import SignerKind
    from mppcli.wallet.keystore import Keystore

    store = Keystore(env.paths)
    if record.signer_kind is SignerKind.SESSION:
        return store.session_key(record.authorized_signer), "the channel's session key"
    if record.signer_kind is SignerKind.PAYER:
        for info in store.list():
            if info.pubkey == record.authorized_signer:
                return store.keypair(info.name), f"wallet {info.name!r}, the channel's payer"
        raise InputError(f"no wallet holds {record.authorized_signer}, the voucher key of this channel",
                         hint="Import it (`mpp wallet import`) or sign with -k FILE.")
    raise InputError(f"channel {record.channel_id} is operator-signed: the server signs its vouchers",
                     hint="Pass -w NAME or -k FILE to sign with another key anyway.")


def _record_signed(env: Env, record: ChannelRecord, signed: SignedVoucher) -> None:
    """Raise the signed watermark before the voucher is printed (never lowers it)."""
    from dataclasses import replace

    from mppcli.protocol.encoding import canonical_json
    from mppcli.state.store import ChannelStore

    amount = signed.voucher.cumulative_amount
    if amount <= record.signed_cumulative:
        return
    text = canonical_json(signed.to_json()).decode("utf-8")
    ChannelStore(env.paths, warn=env.warn).update(
        record.channel_id,
        lambda r: replace(r, signed_cumulative=amount, last_signed_voucher=text)
        if amount > r.signed_cumulative else r)


def _signed_outcome(signed: SignedVoucher) -> Outcome:
    import json

    data = signed.to_json()
    return Outcome(data, json.dumps(data, indent=2))


@voucher_app.command("verify")
def verify_cmd(
    ctx: typer.Context,
    source: Annotated[str, typer.Argument(metavar="[FILE|-]",
                                          help="Signed voucher JSON file, or - for stdin.")] = "-",
    json: JsonOpt = False,
) -> None:
    """Check a signed voucher's Ed25519 signature over its 50-byte message.

    Prints the verdict and the voucher's fields either way (--json: `valid`). Exit status: 0 for a
    valid signature, 2 (E_INPUT) for an invalid one (a tampered or mis-signed voucher), so scripts
    can rely on it.
    """
    def action(env: Env) -> Outcome | None:
        from mppcli.cli.output import render_outcome
        from mppcli.cli.units import local_time, plain
        from mppcli.errors import InputError
        from mppcli.protocol.voucher import verify_signed_voucher

        signed = _read_signed(source)
        valid = verify_signed_voucher(signed)
        voucher = signed.voucher
        data = {"valid": valid, "signer": signed.signer, "channelId": voucher.channel_id,
                "cumulativeAmount": str(voucher.cumulative_amount), "expiresAt": voucher.expires_at,
                "messageHex": signed.message().hex()}
        verdict = "valid signature" if valid else "INVALID signature"
        shown = {**data, "expiresAt": local_time(voucher.expires_at) if voucher.expires_at else "never"}
        human = "\n".join([verdict, *(f"{k}: {plain(v)}" for k, v in shown.items() if k != "valid")])
        if valid:
            return Outcome(data, human)
        render_outcome(env, Outcome(data, human))
        raise typer.Exit(InputError.exit_code)
    run(ctx, json, action)


def _read_signed(source: str) -> SignedVoucher:
    """A signed voucher from a file or stdin; the voucher or commit payload around it is unwrapped."""
    from mppcli.errors import InputError, MalformedError
    from mppcli.protocol.encoding import loads_json
    from mppcli.protocol.voucher import parse_signed_voucher

    name = "stdin" if source == "-" else source
    raw = _read_bytes(source, name)
    try:
        data = loads_json(raw, name)
        if isinstance(data, dict) and "signature" not in data and isinstance(data.get("voucher"), dict):
            data = data["voucher"]  # a voucher action or commit body: the signed voucher inside
        return parse_signed_voucher(data, "signed voucher")
    except MalformedError as exc:
        hint = 'Expected {"voucher": {...}, "signer", "signature", "signatureType"}.'
        raise InputError(f"{name}: {exc}", hint=hint) from None


def _read_bytes(source: str, name: str) -> bytes:
    from mppcli.errors import InputError

    try:
        if source == "-":
            data = sys.stdin.buffer.read(MAX_INPUT_BYTES + 1)
        else:
            with Path(source).expanduser().open("rb") as handle:
                data = handle.read(MAX_INPUT_BYTES + 1)
    except OSError as exc:
        raise InputError(f"cannot read {name}: {exc.strerror}") from None
    if len(data) > MAX_INPUT_BYTES:
        raise InputError(f"{name} is larger than {MAX_INPUT_BYTES} bytes; a signed voucher is tiny")
    return data
