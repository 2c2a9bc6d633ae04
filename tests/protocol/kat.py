"""Known-answer values shared by the protocol tests, written down here (no ../shared needed).

The Ed25519 key is RFC 8032 §7.1 test 1; its signature of the empty message is the RFC's. The
voucher and bearer signatures below were produced by this package and checked once against the
reference implementation (solana-pay-kit 0.10.0), which produced the same base58 strings.
"""

from __future__ import annotations

RFC8032_SEED = bytes.fromhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
RFC8032_PUBKEY_HEX = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"
RFC8032_EMPTY_SIGNATURE_HEX = (
    "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd2"
    "5bf5f0595bbe24655141438e7a100b"
)
SIGNER = "FVen3X669xLzsi6N2V91DoiyzHzg1uAgqiT8jZ9nS96Z"  # base58 of RFC8032_PUBKEY_HEX
SECRET_B58 = "49W385L4rePHy6PAaQUovbD2aacgN4HsKXSMeUzRg4fmwXszN91JuMFrQRj3vMDpZuRF3ZknQBuRBoWQJEfXstMw"

# 32 bytes of 0x09 in base58 (the channel id of the shared 50-byte vectors)
CHANNEL = "cGfHiC6Kgg3FpFZvgwGcswsCRtp4aBP2fzuXRQPizuN"
VOUCHER_42_1234_SIGNATURE = (
    "CeTtNB4eCqksbctwN5bgZcPMKDL4RVqgCEeUTFuoQaagUub39jqt4KPhJWJFXmURbouGisDNbMrDqy2kFy2H6yM"
)
BEARER_CHALLENGE_ID = "c_8d0e3b5a9f2c1d4e"
BEARER_SIGNATURE = "4KALJTFa1aoiigHJuwXoPywU7bko6NQFCBL41wazswdSeUZbjKULzdV8JyCEd8sNzepmcZc46iUhfF75diA5i4zo"

# Well-known addresses (valid 32-byte keys)
SYSTEM = "11111111111111111111111111111111"
PROGRAM = "CHNLxYvVA28MJP9PrFuDXccuoGXAx7jBacfLEkahyGsX"
MINT = "4zMMC9srt5Ri5X14GAgXhaHii3GnPAEERYPJgZJDncDU"
PAYEE = "Stake11111111111111111111111111111111111111"
PAYER = "Vote111111111111111111111111111111111111111"
OTHER = "Config1111111111111111111111111111111111111"
BLOCKHASH = "EkSnNWid2cvwEVnVx9aBqawnmiCNiDgp3gUdkDPTKN1N"
TOKEN_PROGRAM = "TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA"


def new_channel_request(**details: object) -> dict[str, object]:
    """A valid new-channel session request; `details` override methodDetails keys (None deletes)."""
    method_details: dict[str, object] = {
        "network": "localnet",
        "channelProgram": PROGRAM,
        "recentBlockhash": BLOCKHASH,
        "recentSlot": "250000000",
        "decimals": 6,
        "tokenProgram": TOKEN_PROGRAM,
        "gracePeriodSeconds": 900,
        "voucherSigner": "client",
        "idleTimeoutOptionsSeconds": [30, 600, 86400],
    }
    for key, value in details.items():
        if value is None:
            method_details.pop(key, None)
        else:
            method_details[key] = value
    return {
        "amount": "100",
        "currency": MINT,
        "recipient": PAYEE,
        "suggestedDeposit": "1000000",
        "minimumDeposit": "1000",
        "methodDetails": method_details,
    }


def open_payload(**overrides: object) -> dict[str, object]:
    """A structurally valid client-mode open payload; None deletes a key."""
    payload: dict[str, object] = {
        "action": "open",
        "channelId": CHANNEL,
        "payer": PAYER,
        "payee": PAYEE,
        "mint": MINT,
        "authorizedSigner": OTHER,
        "salt": "7777",
        "depositAmount": "5000",
        "gracePeriodSeconds": 900,
        "openSlot": "250000000",
        "transaction": "AQID",
    }
    for key, value in overrides.items():
        if value is None:
            payload.pop(key, None)
        else:
            payload[key] = value
    return payload
