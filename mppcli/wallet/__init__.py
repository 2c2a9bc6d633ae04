"""mppcli.wallet: payer keys and per-channel session keys in the OS keyring, never in files.

Modules: `keystore` (wallets and session keys), `index` (the public list of names), `secret_store`
(the time-boxed keyring seam), `keys` and `keypair_file` (solana-keygen formats), `signer`
(`payer_from_file`/`payer_from_wallet`, picked by `mppcli.payer.resolve_payer`), `balances`
(for `wallet show`).
"""
