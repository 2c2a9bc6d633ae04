"""The payment-channels program v2, without I/O: IDL-driven codecs, addresses, transactions, checks.

Modules: `idl` (the program description), `constants`, `networks`, `pda`, `splits`, `channel`
(the 256-byte account), `ed25519`, `instructions`, `events`, `program_errors`, `txcodec`,
`transactions` (assembly) and `verify` (the server's structural open/topUp checks).
"""
