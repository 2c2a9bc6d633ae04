"""mppcli: pay and sell metered APIs over HTTP 402 with Solana payment channels."""

__version__ = "0.1.0"
