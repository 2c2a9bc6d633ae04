"""mppcli.files: the low-level file primitives every package shares (it imports only `errors`).

`atomic` (crash-safe replace of a file: temp, fsync, rename, fsync the directory; orphan temps of
dead writers), `locks` (cross-process flock locks with a note naming the holder, re-entrant per
thread; `flock_nonblocking` for the long-lived single-holder locks of `mpp serve` and the ledger).
config.py, wallet/ and state/ write and lock their files through it, so each rule lives once.
"""
