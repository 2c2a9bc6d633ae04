"""The session bearer proof (spec §Session Bearer Proof) of operator-signed channels.

The payer signs, once, the UTF-8 bytes of the JCS object
`{"channelId", "domain": "mpp-session-auth-v1", "payer", "sessionChallengeId"}`; the resulting
`authentication` object then accompanies `open`, every `use`, and `close`. It authorizes access,
not payment, and is a bearer secret: whoever holds it can spend the channel's capacity.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mppcli.errors import MalformedError
from mppcli.protocol.base58 import check_pubkey, verify_ed25519
from mppcli.protocol.encoding import canonical_json
from mppcli.protocol.fields import as_object, get_signature, need_pubkey, need_str

if TYPE_CHECKING:
    from solders.keypair import Keypair

DOMAIN = "mpp-session-auth-v1"
PROOF_TYPE = "proof"


@dataclass(frozen=True)
class Authentication:
    """The `authentication` object: `type` is always `proof`."""

    challenge_id: str
    payer: str
    signature: str
    type: str = PROOF_TYPE

    def to_json(self) -> dict[str, Any]:
        return {"type": self.type, "challengeId": self.challenge_id, "payer": self.payer,
                "signature": self.signature}


def bearer_message(channel_id: str, payer: str, session_challenge_id: str) -> bytes:
    """The exact bytes the payer signs."""
    check_pubkey(channel_id, "channelId")
    check_pubkey(payer, "payer")
    if not isinstance(session_challenge_id, str) or not session_challenge_id:
        raise MalformedError("sessionChallengeId must be a non-empty string")
    return canonical_json({"channelId": channel_id, "domain": DOMAIN, "payer": payer,
                           "sessionChallengeId": session_challenge_id})


def parse_authentication(value: object, path: str = "authentication") -> Authentication:
    data = as_object(value, path)
    kind = need_str(data, "type", path)
    if kind != PROOF_TYPE:
        raise MalformedError(f"{path}.type must be 'proof', got {kind[:40]!r}")
    return Authentication(need_str(data, "challengeId", path), need_pubkey(data, "payer", path),
                          get_signature(data, "signature", path))


def sign_bearer(keypair: Keypair, channel_id: str, session_challenge_id: str) -> Authentication:
    """The payer's proof for one channel and its opening session challenge."""
    payer = str(keypair.pubkey())
    signature = keypair.sign_message(bearer_message(channel_id, payer, session_challenge_id))
    return Authentication(session_challenge_id, payer, str(signature))


def verify_bearer(channel_id: str, authentication: Authentication) -> bool:
    """True if the proof's signature is its payer's over this channel and its challenge id."""
    try:
        message = bearer_message(channel_id, authentication.payer, authentication.challenge_id)
    except MalformedError:
        return False
    return verify_ed25519(authentication.payer, authentication.signature, message)
