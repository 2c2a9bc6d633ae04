"""Talking to our embedded ledger from the interop tests: plain JSON-RPC, faucet, balances.

Kept to the documented methods (Solana's own plus the ledger's `mpp_mintTestTokens`), so what the
tests see is what any independent server or client sees on the wire.
"""

from __future__ import annotations

import base64
from typing import Any


class LedgerClient:
    def __init__(self, rpc_url: str) -> None:
        self.rpc_url = rpc_url

    def call(self, method: str, params: list[Any]) -> Any:
        import httpx

        answer = httpx.post(self.rpc_url, json={"jsonrpc": "2.0", "id": 1, "method": method,
                                                "params": params}, timeout=30).json()
        if "error" in answer:
            raise AssertionError(f"{method} failed: {answer['error']}")
        return answer["result"]

    def airdrop(self, owner: str, lamports: int) -> None:
        self.call("requestAirdrop", [owner, lamports])

    def mint_tokens(self, owner: str, amount: int) -> None:
        self.call("mpp_mintTestTokens", [owner, str(amount)])

    def token_balance(self, owner: str, mint: str) -> int:
        from solders.pubkey import Pubkey

        from mppcli.chain.constants import TOKEN_PROGRAM
        from mppcli.chain.pda import associated_token_address

        ata = associated_token_address(Pubkey.from_string(owner), Pubkey.from_string(mint), TOKEN_PROGRAM)
        return int(self.call("getTokenAccountBalance", [str(ata)])["value"]["amount"])

    def account_data(self, address: str) -> bytes | None:
        value = self.call("getAccountInfo", [address, {"encoding": "base64"}])["value"]
        return None if value is None else base64.b64decode(value["data"][0])
