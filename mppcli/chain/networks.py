"""The three clusters a challenge may name (`mainnet`, `devnet`, `localnet`) and what we know of each.

One channel program everywhere (CHNLx...). Known mints carry their decimals and token program
(USDC and USDT on classic SPL Token; PYUSD, USDG and CASH on Token-2022; all 6 decimals). The
localnet's test stablecoin is created by the embedded ledger at run time, so localnet starts with
no mints: the ledger's caller adds it with `Network.with_mint`. Localnet's genesis hash is likewise
the ledger's own.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass

from solders.pubkey import Pubkey

from mppcli.chain.constants import PROGRAM_ID, TOKEN_2022_PROGRAM, TOKEN_PROGRAM
from mppcli.chain.endpoints import RPC_URLS
from mppcli.errors import MalformedError

TEST_MINT_DECIMALS = 6  # the embedded ledger's stablecoin (classic SPL Token)


@dataclass(frozen=True)
class KnownMint:
    symbol: str
    address: Pubkey
    decimals: int
    token_program: Pubkey


@dataclass(frozen=True)
class Network:
    name: str
    genesis_hashes: tuple[str, ...]
    channel_program: Pubkey
    rpc_url: str
    mints: tuple[KnownMint, ...] = ()

    def mint(self, symbol_or_address: str) -> KnownMint | None:
        """A known mint by symbol (case-insensitive) or by base58 address."""
        wanted = symbol_or_address.upper()
        for mint in self.mints:
            if mint.symbol == wanted or str(mint.address) == symbol_or_address:
                return mint
        return None

    def with_mint(self, mint: KnownMint) -> Network:
        """This network plus one more known mint (the localnet test stablecoin)."""
        return dataclasses.replace(self, mints=(*self.mints, mint))

    def with_genesis_hash(self, genesis_hash: str) -> Network:
        return dataclasses.replace(self, genesis_hashes=(*self.genesis_hashes, genesis_hash))


def _mint(symbol: str, address: str, token_program: Pubkey, decimals: int = 6) -> KnownMint:
    return KnownMint(symbol, Pubkey.from_string(address), decimals, token_program)


MAINNET = Network(
    name="mainnet",
    genesis_hashes=("5eykt4UsFv8P8NJdTREpY1vzqKqZKvdpKuc147dw2N9d",),
    channel_program=PROGRAM_ID,
    rpc_url=RPC_URLS["mainnet"],
    mints=(
        _mint("USDC", "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v", TOKEN_PROGRAM),
        _mint("USDT", "Es9vMFrzaCERmJfrF4H2FYD4KCoNkY11McCe8BenwNYB", TOKEN_PROGRAM),
        _mint("PYUSD", "2b1kV6DkPAnxd5ixfnxCpjxmKwqjjaYmCZfHsFu24GXo", TOKEN_2022_PROGRAM),
        _mint("USDG", "2u1tszSeqZ3qBWF3uNGPFc8TzMk2tdiwknnRMWGWjGWH", TOKEN_2022_PROGRAM),
        _mint("CASH", "CASHx9KJUStyftLFWGvEVf59SGeG9sh5FfcnZMVPCASH", TOKEN_2022_PROGRAM),
    ),
)

DEVNET = Network(
    name="devnet",
    genesis_hashes=("EtWTRABZaYq6iMfeYKouRu166VU2xqa1wcaWoxPkrZBG",),
    channel_program=PROGRAM_ID,
    rpc_url=RPC_URLS["devnet"],
    mints=(
        _mint("USDC", "4zMMC9srt5Ri5X14GAgXhaHii3GnPAEERYPJgZJDncDU", TOKEN_PROGRAM),
        _mint("PYUSD", "CXk2AMBfi3TwaEL2468s6zP8xq9NxTXjp9gjMgzeUynM", TOKEN_2022_PROGRAM),
        _mint("USDG", "4F6PM96JJxngmHnZLBh9n58RH4aTVNWvDs2nuwrT5BP7", TOKEN_2022_PROGRAM),
    ),
)

LOCALNET = Network(
    name="localnet",
    genesis_hashes=(),  # the embedded ledger's own, known once it runs
    channel_program=PROGRAM_ID,
    rpc_url=RPC_URLS["localnet"],
)

NETWORKS: Mapping[str, Network] = {n.name: n for n in (MAINNET, DEVNET, LOCALNET)}

# Solana CLI habits (`-u m|d|l`) plus the challenge's own names.
MONIKERS: Mapping[str, str] = {
    "mainnet": "mainnet", "mainnet-beta": "mainnet", "m": "mainnet",
    "devnet": "devnet", "d": "devnet",
    "localnet": "localnet", "localhost": "localnet", "l": "localnet",
}


def network(name: str) -> Network:
    """The network a challenge's `network` names (exactly `mainnet`, `devnet` or `localnet`)."""
    if name not in NETWORKS:
        raise MalformedError(f"network must be one of {', '.join(NETWORKS)}, got {name!r}")
    return NETWORKS[name]


def known_mint(address: Pubkey) -> KnownMint | None:
    """The stablecoin at `address` on whichever cluster knows it (mint addresses never repeat across
    clusters), so a check that is not told the network still knows USDC's or PYUSD's token program."""
    return next((m for n in NETWORKS.values() for m in n.mints if m.address == address), None)


def network_for_moniker(moniker: str) -> Network | None:
    """`-u` monikers: mainnet-beta/m, devnet/d, localhost/l (and the network names)."""
    name = MONIKERS.get(moniker)
    return NETWORKS[name] if name else None


def network_for_genesis(genesis_hash: str) -> Network | None:
    """Which known cluster an RPC serves, from its `getGenesisHash` answer."""
    return next((n for n in NETWORKS.values() if genesis_hash in n.genesis_hashes), None)
