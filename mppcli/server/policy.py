"""`authorizationPolicy` in an `open` (spec: Action "open"; Server State Management).

The spec gives the voucher-signer policy no schema beyond "when present, MUST be consistent with
`authorizedSigner`", and lists it in the per-channel state. So the server reads the members that
name a signer or a signing mode and refuses a policy that contradicts the channel; anything else
in the object is kept verbatim (bounded in size: it is stored with the channel).

    authorizedSigner / signer   a public key: must be the open's authorizedSigner
    signers                     a list of public keys: must be exactly [authorizedSigner]
    voucherSigner               "client" | "operator": must be the challenge's mode
"""

from __future__ import annotations

import json
from typing import Any

from mppcli.server import problems

MAX_POLICY_BYTES = 2048
STATE_KEY = "authorizationPolicy"  # where the accepted policy lives in `ChannelState.extra`


def check_authorization_policy(policy: dict[str, Any] | None, authorized_signer: str, mode: str) -> None:
    """Refuse (verification-failed) a policy that is too large or inconsistent with the channel."""
    if policy is None:
        return
    if len(json.dumps(policy, separators=(",", ":"))) > MAX_POLICY_BYTES:
        raise problems.failed(f"authorizationPolicy is larger than {MAX_POLICY_BYTES} bytes")
    for key in ("authorizedSigner", "signer"):
        if key in policy and policy[key] != authorized_signer:
            raise problems.failed(
                f"authorizationPolicy.{key} is not the open's authorizedSigner {authorized_signer}"
            )
    if "signers" in policy and policy["signers"] != [authorized_signer]:
        raise problems.failed(
            f"authorizationPolicy.signers must be exactly the open's authorizedSigner {authorized_signer}"
        )
    if "voucherSigner" in policy and policy["voucherSigner"] != mode:
        raise problems.failed(f"authorizationPolicy.voucherSigner is not this channel's mode ({mode})")
