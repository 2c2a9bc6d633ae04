"""Fixtures of the wallet tests."""

from tests.wallet.keyring_support import real_keyring

__all__ = ["real_keyring"]
