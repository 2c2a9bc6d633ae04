"""#10 item 27, server side: a negative `expiresAt` (an i64 the codec now carries verbatim) is expired.

The message is signed from raw bytes and the credential serialised with plain `json.dumps` (JCS
would refuse i64::MIN, which has no exact ECMAScript spelling), so the test speaks the wire as a
peer in another language might and does not lean on our own codec accepting the value.
"""

from __future__ import annotations

import json
import struct

import pytest
from solders.pubkey import Pubkey

from mppcli.protocol.auth import Credential
from mppcli.protocol.encoding import b64url_encode
from mppcli.protocol.voucher import MAGIC
from tests.server.payer import Payer, problem_of, receipt_of

PRICE = 10_000


def _negative_expiry_payload(payer: Payer, cumulative: int, expires_at: int) -> dict[str, object]:
    channel = str(payer.channel_id)
    message = MAGIC + bytes(Pubkey.from_string(channel)) + struct.pack("<Qq", cumulative, expires_at)
    signature = payer.signer.sign_message(message)
    assert signature.verify(payer.signer.pubkey(), message)
    signed = {"voucher": {"channelId": channel, "cumulativeAmount": str(cumulative), "expiresAt": expires_at},
              "signer": str(payer.signer.pubkey()), "signature": str(signature), "signatureType": "ed25519"}
    return {"action": "voucher", "channelId": channel, "voucher": signed}


@pytest.mark.parametrize("expires_at", [-1, -(2**63)])
def test_a_negative_expiry_is_refused_as_expired_and_costs_nothing(opened: Payer, expires_at: int) -> None:
    challenge, _ = opened.challenge()
    credential = Credential(challenge, _negative_expiry_payload(opened, PRICE, expires_at)).to_json()
    token = b64url_encode(json.dumps(credential, separators=(",", ":")).encode())
    problem = problem_of(opened.get("/paid", {"Authorization": "Payment " + token}, "GET"))
    assert problem.name == "verification-failed" and "expired" in problem.detail, problem
    assert receipt_of(opened.pay(PRICE)).spent == PRICE  # nothing was accepted or debited before
