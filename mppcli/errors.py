"""Every failure a user can meet, with its stable code and exit status.

    MppError                      (code, exit_code, message, hint)
     ├── UsageError               E_USAGE               2  the command line itself is wrong
     ├── InputError               E_INPUT               2  a file, amount or value the user gave is bad
     ├── ConfigError              E_CONFIG              2  config.toml / environment is unusable
     ├── KeyringError             E_KEYRING             2  no OS keyring, or an entry is missing
     ├── NetworkError             E_NETWORK             3  the HTTP server cannot be reached
     ├── RpcError                 E_RPC                 3  the Solana RPC cannot be reached or failed
     ├── PaymentRejected          E_PAYMENT_REJECTED    4  the server refused a payment
     ├── HttpStatusError          E_HTTP_STATUS         4  `request --fail`: an HTTP error status
     ├── ProtocolViolation        E_PROTOCOL            4  the server broke the protocol (or lied)
     ├── PolicyError              E_POLICY              5  refused by the user's own limits
     │    ├── ConfirmationRequired E_CONFIRMATION_REQUIRED 5
     │    └── NetworkMismatch     E_NETWORK_MISMATCH    5
     ├── BusyError                E_BUSY                6  another mpp holds the lock
     ├── Interrupted              E_INTERRUPTED       130  Ctrl-C, after state was saved
     └── InternalError            E_INTERNAL            1  a bug: please report

`MalformedError` is not an `MppError`: pure parsers raise it for any input they cannot accept,
and the seam that knows *who* sent the input turns it into the right `MppError` (a server's
header -> ProtocolViolation, a user's file -> InputError, a client's credential -> a 402).

This module imports nothing from the project, so every layer may use it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from enum import IntEnum, unique
from typing import ClassVar


@unique
class ExitStatus(IntEnum):
    """The exit statuses of `mpp` (CLI.md): the only place they are written down."""

    OK = 0
    ERROR = 1  # unexpected: a bug
    USAGE = 2  # usage, configuration or bad local input
    NETWORK = 3  # HTTP server or RPC unreachable
    REJECTED = 4  # the server rejected a payment or broke the protocol
    POLICY = 5  # refused by the user's own policy
    BUSY = 6  # another mpp holds the lock
    INTERRUPTED = 130  # 128 + SIGINT, after state was saved


EXIT_CODES: frozenset[int] = frozenset(ExitStatus)


class MalformedError(ValueError):
    """Input that does not parse or violates the wire contract; the message says exactly why."""


class MppError(Exception):
    """Base of every error `mpp` presents to a user."""

    code: ClassVar[str] = "E_INTERNAL"
    exit_code: ClassVar[int] = ExitStatus.ERROR
    default_hint: ClassVar[str] = ""

    def __init__(self, message: str, *, hint: str | None = None, channel_id: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint if hint is not None else self.default_hint
        self.channel_id = channel_id

    def to_json(self) -> dict[str, object]:
        """The `error` object of the JSON error envelope (CLI.md)."""
        body: dict[str, object] = {"code": self.code, "message": self.message, "hint": self.hint}
        if self.channel_id:
            body["channelId"] = self.channel_id
        return body


class UsageError(MppError):
    code, exit_code = "E_USAGE", ExitStatus.USAGE
    default_hint = "Run the command with --help to see its usage."


class InputError(MppError):
    code, exit_code = "E_INPUT", ExitStatus.USAGE


class ConfigError(MppError):
    code, exit_code = "E_CONFIG", ExitStatus.USAGE
    default_hint = "Check config.toml (`mpp config list`) and the MPP_* environment variables."


class KeyringError(MppError):
    code, exit_code = "E_KEYRING", ExitStatus.USAGE


class NetworkError(MppError):
    code, exit_code = "E_NETWORK", ExitStatus.NETWORK
    default_hint = "Check the URL and that the server is running; then retry."


class RpcError(MppError):
    code, exit_code = "E_RPC", ExitStatus.NETWORK
    default_hint = "Check the RPC URL (-u/--url, MPP_RPC_URL) and that the cluster is reachable."


class PaymentRejected(MppError):
    code, exit_code = "E_PAYMENT_REJECTED", ExitStatus.REJECTED


class HttpStatusError(MppError):
    """`mpp request --fail`: the paid resource answered with an HTTP error status (curl's -f)."""

    code, exit_code = "E_HTTP_STATUS", ExitStatus.REJECTED
    default_hint = "The resource answered with an error status; without --fail its body is printed."


class ProtocolViolation(MppError):
    code, exit_code = "E_PROTOCOL", ExitStatus.REJECTED
    default_hint = "The server does not follow the MPP session protocol; nothing more was signed."


class PolicyError(MppError):
    code, exit_code = "E_POLICY", ExitStatus.POLICY


class ConfirmationRequired(PolicyError):
    code = "E_CONFIRMATION_REQUIRED"
    default_hint = "Run it on a terminal to confirm, or pass --yes."


class NetworkMismatch(PolicyError):
    code = "E_NETWORK_MISMATCH"
    default_hint = "Point -u/--url at the cluster the server names (mainnet-beta, devnet, localhost)."


class BusyError(MppError):
    code, exit_code = "E_BUSY", ExitStatus.BUSY
    default_hint = "Wait for the other mpp process to finish, then retry."


class Interrupted(MppError):
    code, exit_code = "E_INTERRUPTED", ExitStatus.INTERRUPTED
    default_hint = "State was saved; run the same command again to continue."


class InternalError(MppError):
    code, exit_code = "E_INTERNAL", ExitStatus.ERROR
    default_hint = "This is a bug in mpp; please report it with the output of `mpp doctor`."


@contextmanager
def channel_context(channel_id: str) -> Iterator[None]:
    """Attach `channel_id` to any MppError raised inside, so messages can name the channel."""
    try:
        yield
    except MppError as exc:
        if exc.channel_id is None:
            exc.channel_id = channel_id
        raise
