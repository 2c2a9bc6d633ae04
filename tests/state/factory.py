"""Channel records for tests: realistic keys (fresh each call), every field filled."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from solders.keypair import Keypair

from mppcli.state.record import ChannelRecord, ChannelStatus, SignerKind, Split, VoucherSigner

USDC_DEVNET = "4zMMC9srt5Ri5X14GAgXhaHii3GnPAEERYPJgZJDncDU"
TOKEN_PROGRAM = "TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA"
PROGRAM = "CHNLxYvVA28MJP9PrFuDXccuoGXAx7jBacfLEkahyGsX"


def new_key() -> str:
    return str(Keypair().pubkey())


def voucher_text(channel_id: str, cumulative: int) -> str:
    """A signed-voucher-shaped JSON text (the store keeps it verbatim; it does not verify it)."""
    return (f'{{"voucher":{{"channelId":"{channel_id}","cumulativeAmount":"{cumulative}"}},'
            f'"signer":"{PROGRAM}","signature":"{"1" * 64}","signatureType":"ed25519"}}')


def make_record(**overrides: Any) -> ChannelRecord:
    record = ChannelRecord(
        channel_id=new_key(), url="http://127.0.0.1:8402/paid", origin="http://127.0.0.1:8402",
        realm="127.0.0.1", network="localnet", program_id=PROGRAM, payer=new_key(), payee=new_key(),
        mint=USDC_DEVNET, token_program=TOKEN_PROGRAM, decimals=6, authorized_signer=new_key(),
        signer_kind=SignerKind.SESSION, salt=2**63 + 7, open_slot=352114093, deposit=1_000_000,
        grace_period_seconds=900, voucher_signer=VoucherSigner.CLIENT, idle_timeout_seconds=600,
        operator=new_key(), fee_payer_key=new_key(), splits=(Split(new_key(), 250),),
        opening_challenge_id="chal-1", authentication=None, open_tx=None,
        status=ChannelStatus.OPENING)
    return replace(record, **overrides)
