"""Keys and session challenge requests for the interop tests (fresh random keys every time)."""

from __future__ import annotations

from typing import Any

PROGRAM_ID = "CHNLxYvVA28MJP9PrFuDXccuoGXAx7jBacfLEkahyGsX"
TOKEN_PROGRAM = "TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA"


def new_secret() -> str:
    """A fresh keypair as the base58 text of its 64 bytes (what the drivers take)."""
    from solders.keypair import Keypair

    return str(Keypair())


def pubkey_of(secret: str) -> str:
    from solders.keypair import Keypair

    return str(Keypair.from_base58_string(secret).pubkey())


def new_pubkey() -> str:
    from solders.keypair import Keypair

    return str(Keypair().pubkey())


def new_blockhash() -> str:
    from solders.hash import Hash

    return str(Hash.new_unique())


def session_request(operator: str, mint: str, *, recent_blockhash: str, recent_slot: int,
                    fee_payer: bool = True, deposit: int = 1_000_000, price: int = 100,
                    splits: list[dict[str, Any]] | None = None, token_program: str | None = None,
                    minimum_deposit: int | None = None) -> dict[str, Any]:
    """A decoded new-channel session challenge request as a server would issue it."""
    details: dict[str, Any] = {
        "network": "localnet", "channelProgram": PROGRAM_ID, "recentBlockhash": recent_blockhash,
        "recentSlot": str(recent_slot), "decimals": 6, "voucherSigner": "client",
        "gracePeriodSeconds": 900, "operator": operator,
    }
    if fee_payer:
        details.update(feePayer=True, feePayerKey=operator)
    if splits:
        details["distributionSplits"] = splits
    if token_program:
        details["tokenProgram"] = token_program
    request: dict[str, Any] = {"amount": str(price), "currency": mint, "recipient": operator,
                               "suggestedDeposit": str(deposit), "methodDetails": details}
    if minimum_deposit is not None:
        request["minimumDeposit"] = str(minimum_deposit)
    return request
