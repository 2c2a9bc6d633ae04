"""ServerConfig: everything `mpp serve` decides once at start, as one frozen value.

Prices and deposits are base units (ints). Keys are solders `Keypair`s held in memory only; the
config never prints them (`__repr__` is overridden).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

from mppcli.protocol.session import VOUCHER_SIGNERS, VoucherSigner
from mppcli.server.credit import DEFAULT_CREDIT, parse_credit

# The most splits a channel can be opened *and* settled with on a real cluster (1232-byte packets):
# the open carries the split list (34 bytes each; lookup tables are not allowed there) and fits up
# to 17 (16: 1179 bytes); the close needs a lookup table beyond 7 and fits up to 18 with ours
# (chain/lookup_tables.py, tests/ledger/test_lookup_tables.py). 16, with margin, is tested end to end.
MAX_SERVED_SPLITS = 16

# Spec RECOMMENDED values and the reference's defaults (PROTOCOL-NOTES §2, §10).
DEFAULT_GRACE_PERIOD = 900
DEFAULT_CHALLENGE_TTL = 300
DEFAULT_CLOCK_SKEW = 30
MAX_CLOCK_SKEW = 3600
DEFAULT_IDLE_OPTIONS = (30, 600, 86400)
DEFAULT_IDLE_TIMEOUT = 600
MAX_IDLE_TIMEOUT = 2_592_000
NO_EXPIRY_VOUCHER = 4_102_444_800  # 2100-01-01, what the reference writes for "no expiry"


@dataclass(frozen=True)
class StreamPolicy:
    """How the metered stream paces and bounds unpaid delivery.

    `credit` is the credit window (`mppcli.server.credit`): how much may be delivered and charged
    to `spent` ahead of the vouchers for it; when it is used up, or the deposit cannot cover the
    next chunk, the stream pauses for up to `pause_seconds` and then ends with an
    `mpp.payment-required` event.
    """

    credit: str = DEFAULT_CREDIT
    pause_seconds: float = 20.0
    delivery_ttl: int = 300
    interval: float = 0.0
    max_chunks: int = 100_000


@dataclass(frozen=True)
class ServerConfig:
    """The session server's configuration (see `mpp serve --help` for the flags behind it)."""

    network: str
    rpc_url: str
    program_id: str
    operator: Any  # solders Keypair: fee payer and rent payer
    recipient: str
    recipient_signer: Any  # solders Keypair whose pubkey is `recipient` (signs settleAndSeal)
    mint: str
    decimals: int
    token_program: str
    secret: bytes
    voucher_key: Any = None  # solders Keypair signing vouchers of operator-signed channels
    symbol: str | None = None
    price: int = 10_000
    chunk_price: int = 1_000
    fee_payer: bool = True
    voucher_signer: str = VoucherSigner.CLIENT
    idle_timeout_options: tuple[int, ...] | None = DEFAULT_IDLE_OPTIONS
    default_idle_timeout: int = DEFAULT_IDLE_TIMEOUT
    grace_period: int = DEFAULT_GRACE_PERIOD
    min_deposit: int | None = None
    suggested_deposit: int | None = None
    splits: tuple[tuple[str, int], ...] = ()
    min_voucher_delta: int | None = None
    realm: str = "localhost"
    allowed_mints: frozenset[str] = frozenset()
    challenge_ttl: int = DEFAULT_CHALLENGE_TTL
    clock_skew: int = DEFAULT_CLOCK_SKEW
    chain_check_ttl: float = 0.0
    confirm_timeout: float = 30.0
    idle_check_interval: float = 1.0
    reclaim_interval: float = 30.0
    chain_watch_interval: float = 5.0
    stream: StreamPolicy = field(default_factory=StreamPolicy)

    def __repr__(self) -> str:  # never show key material
        return (
            f"ServerConfig(network={self.network!r}, recipient={self.recipient!r}, "
            f"mint={self.mint!r}, operator={self.operator_key!r})"
        )

    @property
    def operator_key(self) -> str:
        return str(self.operator.pubkey())

    @property
    def voucher_operator(self) -> str:
        """The challenge's `operator`: the key operator-signed channels bind as `authorizedSigner`.

        A key of its own, not the fee payer: the open verifier (spec step 9) never lets the
        server's fee payer stand in for another role of the channel."""
        return str(self.voucher_key.pubkey())

    @property
    def mint_allowed(self) -> frozenset[str]:
        """The allow-list (spec: Mint Allow-List): the configured mint is always on it."""
        return self.allowed_mints | {self.mint}

    def idle_timeout_for(self, requested: int | None) -> int:
        """The effective idle timeout for a new channel; raises ValueError for a bad choice.

        Spec (Idle timeout): a client choice must exactly match an offered option and is forbidden
        when none are offered; without a choice the server picks an offered value.
        """
        options = self.idle_timeout_options
        if requested is None:
            if not options or self.default_idle_timeout in options:
                return self.default_idle_timeout
            return options[0]
        if not options:
            raise ValueError(
                "idleTimeoutSeconds was sent but this server offers no idle-timeout "
                "options (idleTimeoutOptionsSeconds is absent)"
            )
        if requested not in options:
            offered = ", ".join(str(o) for o in options)
            raise ValueError(
                f"the requested idle timeout {requested} s is not one of the advertised options ({offered})"
            )
        return requested


def validate_config(config: ServerConfig) -> None:
    """Reject combinations the spec forbids, with messages that name the flag."""
    if config.price <= 0 or config.chunk_price <= 0:
        raise ValueError("--price and --chunk-price must be greater than zero")
    if config.grace_period <= 0:
        raise ValueError("--grace-period must be greater than zero")
    options = config.idle_timeout_options
    if options is not None:
        if not options or any(not 1 <= o <= MAX_IDLE_TIMEOUT for o in options):
            raise ValueError(f"--idle-timeout-options must be 1..{MAX_IDLE_TIMEOUT} seconds")
        if any(b <= a for a, b in itertools.pairwise(options)):
            raise ValueError("--idle-timeout-options must be strictly increasing")
    if not 1 <= config.default_idle_timeout <= MAX_IDLE_TIMEOUT:
        raise ValueError("the default idle timeout must be 1..2592000 seconds")
    if not 0 <= config.clock_skew <= MAX_CLOCK_SKEW:
        raise ValueError(f"--clock-skew must be 0..{MAX_CLOCK_SKEW} seconds")
    if config.voucher_signer not in VOUCHER_SIGNERS:
        raise ValueError("--voucher-signer must be client or operator")
    if (
        config.min_deposit is not None
        and config.suggested_deposit is not None
        and config.suggested_deposit < config.min_deposit
    ):
        raise ValueError("the suggested deposit is below --min-deposit")
    if config.min_voucher_delta is not None and config.min_voucher_delta > min(
        config.price, config.chunk_price
    ):
        raise ValueError("--min-voucher-delta exceeds the price: no voucher could ever pay exactly")
    parse_credit(config.stream.credit, config.chunk_price, config.decimals)
    if config.voucher_signer == VoucherSigner.OPERATOR and config.voucher_key is None:
        raise ValueError("operator-signed vouchers need a voucher key")
    if str(config.recipient_signer.pubkey()) != config.recipient:
        raise ValueError("the recipient keypair does not match --recipient")
    _validate_splits(config)


def _validate_splits(config: ServerConfig) -> None:
    recipients = [r for r, _ in config.splits]
    if len(set(recipients)) != len(recipients):
        raise ValueError("--split recipients must be unique")
    if len(recipients) > MAX_SERVED_SPLITS:
        raise ValueError(
            f"at most {MAX_SERVED_SPLITS} --split recipients: the open transaction carries the split list "
            f"and with more it exceeds a real cluster's 1232-byte packet (the program allows 32)"
        )
    if any(bps <= 0 for _, bps in config.splits):
        raise ValueError("every --split share must be greater than 0 bps")
    if sum(bps for _, bps in config.splits) > 10_000:
        raise ValueError("--split shares add up to more than 10000 bps")
