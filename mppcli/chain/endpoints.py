"""The public JSON-RPC endpoint of each cluster, and the localnet's loopback one: the one source.

Kept apart from `networks` (which needs solders) so that `mppcli.config`, on the start-up path of
every command, can resolve `-u` monikers from the same table without loading solders.
"""

from __future__ import annotations

LOCALNET_RPC_PORT = 8899  # where `mpp serve`'s embedded ledger (and `mpp localnet`) listen by default

RPC_URLS: dict[str, str] = {
    "mainnet": "https://api.mainnet-beta.solana.com",
    "devnet": "https://api.devnet.solana.com",
    "testnet": "https://api.testnet.solana.com",
    "localnet": f"http://127.0.0.1:{LOCALNET_RPC_PORT}",
}
