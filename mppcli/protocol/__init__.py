"""The pure wire core: the Payment auth scheme and the solana `session` intent, as values and bytes.

No I/O, no clock, no randomness: callers pass `now`, secrets and keys. Every parser raises
`mppcli.errors.MalformedError` naming the field and what was wrong; the seam that knows who sent
the input turns that into the right user-facing error.

    encoding    base64url / standard base64, strict JSON, u64 strings, base58 (jcs: RFC 8785)
    amounts     token units <-> base units
    auth        WWW-Authenticate challenges, Authorization credentials, challenge-id HMAC,
                RFC 3339 expiry (rfc3339), problem details (problem)
    session     the session request and its methodDetails
    actions     open / voucher / use / topUp / close payloads
    voucher     the 50-byte voucher message and the signed voucher
    bearer      the operator-mode bearer proof
    receipt     Payment-Receipt
    metering    the reference's metered-SSE events and side-channel bodies
"""
