"""The exit statuses of `mpp` (CLI.md), in one place."""

from enum import IntEnum, unique


@unique
class ExitStatus(IntEnum):
    OK = 0
    ERROR = 1  # unexpected: a bug
    USAGE = 2  # usage, configuration or bad local input
    NETWORK = 3  # HTTP server or RPC unreachable
    REJECTED = 4  # the server rejected a payment or broke the protocol
    POLICY = 5  # refused by the user's own policy
    BUSY = 6  # another mpp holds the lock
    INTERRUPTED = 130  # 128 + SIGINT, after state was saved
