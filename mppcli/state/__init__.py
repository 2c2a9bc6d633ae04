"""mppcli.state: the payer's local channel records (`store.ChannelStore`), crash-safe and locked.

Modules: `record` (the value), `codec` (strict parsing), `schema` (versions and upgraders),
`watermarks` (the forward-only rule), `lookup` (CHANNEL references), `atomic` (file writes),
`locks` (cross-process locks), `store` (all of it together).
"""
