"""A test payer built from the protocol and chain builders (the same ones `mpp` uses), talking to a
real `mpp serve` over HTTP. It exists so the server's tests can craft every credential - valid or
deliberately wrong - without depending on the client package.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
from solders.hash import Hash
from solders.keypair import Keypair
from solders.pubkey import Pubkey

from mppcli.chain.params import ChannelKeys, OpenParams
from mppcli.chain.splits import Split
from mppcli.chain.transactions import build_open_transaction, build_top_up_transaction
from mppcli.chain.txcodec import encode_transaction, partial_sign
from mppcli.protocol.auth import Challenge, Credential, format_authorization, parse_www_authenticate
from mppcli.protocol.bearer import sign_bearer
from mppcli.protocol.problem import parse_problem
from mppcli.protocol.receipt import SessionReceipt, parse_receipt
from mppcli.protocol.session import SessionRequest, parse_session_request
from mppcli.protocol.voucher import DEFAULT_EXPIRES_AT, SignedVoucher, Voucher, sign_voucher
from tests.server.harness import Chain, ServerProcess

Mutator = Callable[[dict[str, Any]], None]


def challenge_of(response: httpx.Response) -> tuple[Challenge, SessionRequest]:
    assert response.status_code == 402, response.text
    challenge = parse_www_authenticate(response.headers["www-authenticate"])[0]
    return challenge, parse_session_request(challenge.decoded_request())


def problem_of(response: httpx.Response) -> Any:
    assert response.status_code == 402, (response.status_code, response.text)
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.headers["cache-control"] == "no-store"
    assert "payment-receipt" not in response.headers
    parse_www_authenticate(response.headers["www-authenticate"])  # a fresh challenge, always
    return parse_problem(response.content)


def receipt_of(response: httpx.Response) -> SessionReceipt:
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"].startswith("private")
    return parse_receipt(response.headers["payment-receipt"])


@dataclass
class Payer:
    server: ServerProcess
    funds: int = 10_000_000
    delegate: bool = True
    keypair: Keypair = field(default_factory=Keypair)
    http: httpx.Client = field(default_factory=lambda: httpx.Client(timeout=60))
    channel_id: str | None = None
    opened_with: Challenge | None = None
    last_voucher: SignedVoucher | None = None

    def __post_init__(self) -> None:
        self.signer = Keypair() if self.delegate else self.keypair
        if self.funds:
            self.chain.mint_tokens(str(self.keypair.pubkey()), self.funds)

    @property
    def chain(self) -> Chain:
        return self.server.chain

    @property
    def pubkey(self) -> str:
        return str(self.keypair.pubkey())

    def get(self, path: str, headers: dict[str, str] | None = None, method: str = "GET") -> httpx.Response:
        return self.http.request(method, self.server.url + path, headers=headers or {})

    def challenge(
        self, path: str = "/paid", headers: dict[str, str] | None = None
    ) -> tuple[Challenge, SessionRequest]:
        return challenge_of(self.get(path, headers))

    def send(
        self,
        payload: dict[str, Any],
        challenge: Challenge,
        path: str = "/paid",
        method: str = "GET",
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        auth = format_authorization(Credential(challenge, payload))
        return self.get(path, {"Authorization": auth, **(headers or {})}, method)

    # --- open -----------------------------------------------------------------------------------
    def open_params(
        self,
        request: SessionRequest,
        deposit: int,
        salt: int,
        open_slot: int | None = None,
        grace: int | None = None,
    ) -> OpenParams:
        d = request.method_details
        splits = tuple(Split(Pubkey.from_string(s.recipient), s.share_bps) for s in d.splits)
        signer = (
            Pubkey.from_string(d.operator)
            if d.effective_voucher_signer == "operator"
            else self.signer.pubkey()
        )
        return OpenParams(
            payer=self.keypair.pubkey(),
            payee=Pubkey.from_string(request.recipient),
            mint=Pubkey.from_string(request.currency),
            authorized_signer=signer,
            salt=salt,
            deposit=deposit,
            grace_period=grace if grace is not None else int(d.grace_period_seconds or 0),
            open_slot=open_slot if open_slot is not None else int(d.recent_slot or 0),
            rent_payer=Pubkey.from_string(d.fee_payer_key or self.pubkey),
            token_program=Pubkey.from_string(str(d.token_program)),
            splits=splits,
        )

    def open_payload(
        self,
        challenge: Challenge,
        request: SessionRequest,
        deposit: int = 1_000_000,
        idle: int | None = None,
        salt: int | None = None,
        tx_params: OpenParams | None = None,
        blockhash: str | None = None,
    ) -> dict[str, Any]:
        salt = random.getrandbits(64) if salt is None else salt
        params = self.open_params(request, deposit, salt)
        tx_params = tx_params or params
        d = request.method_details
        fee_payer = Pubkey.from_string(d.fee_payer_key) if d.fee_payer and d.fee_payer_key else None
        tx = build_open_transaction(
            tx_params, Hash.from_string(blockhash or str(d.recent_blockhash)), fee_payer
        )
        tx = partial_sign(tx, [self.keypair])
        channel = str(params.channel)
        payload: dict[str, Any] = {
            "action": "open",
            "channelId": channel,
            "payer": self.pubkey,
            "payee": request.recipient,
            "mint": request.currency,
            "authorizedSigner": str(params.authorized_signer),
            "salt": str(salt),
            "depositAmount": str(deposit),
            "gracePeriodSeconds": params.grace_period,
            "openSlot": str(params.open_slot),
            "transaction": encode_transaction(tx),
        }
        if d.splits:
            payload["distributionSplits"] = [s.to_json() for s in d.splits]
        if idle is not None:
            payload["idleTimeoutSeconds"] = idle
        if d.effective_voucher_signer == "operator":
            payload["authentication"] = sign_bearer(self.keypair, channel, challenge.id).to_json()
        return payload

    def open(
        self,
        deposit: int = 1_000_000,
        path: str = "/paid",
        idle: int | None = None,
        mutate: Mutator | None = None,
    ) -> httpx.Response:
        challenge, request = self.challenge(path)
        payload = self.open_payload(challenge, request, deposit, idle)
        if mutate is not None:
            mutate(payload)
        response = self.send(payload, challenge, path)
        if response.status_code == 200:
            self.channel_id = payload["channelId"]
            self.opened_with = challenge
        return response

    # --- vouchers and actions -------------------------------------------------------------------
    def voucher(
        self,
        cumulative: int,
        expires_at: int | None = DEFAULT_EXPIRES_AT,
        channel_id: str | None = None,
        signer: Keypair | None = None,
    ) -> SignedVoucher:
        voucher = Voucher(channel_id or str(self.channel_id), cumulative, expires_at)
        return sign_voucher(signer or self.signer, voucher)

    def voucher_payload(self, signed: SignedVoucher) -> dict[str, Any]:
        return {"action": "voucher", "channelId": signed.voucher.channel_id, "voucher": signed.to_json()}

    def pay(
        self,
        cumulative: int,
        path: str = "/paid",
        challenge: Challenge | None = None,
        headers: dict[str, str] | None = None,
        method: str = "GET",
    ) -> httpx.Response:
        challenge = challenge or self.challenge(path)[0]
        signed = self.voucher(cumulative)
        response = self.send(self.voucher_payload(signed), challenge, path, method, headers)
        if response.status_code == 200:
            self.last_voucher = signed
        return response

    def use(self, path: str = "/paid", headers: dict[str, str] | None = None) -> httpx.Response:
        assert self.opened_with is not None
        auth = sign_bearer(self.keypair, str(self.channel_id), self.opened_with.id).to_json()
        payload = {"action": "use", "channelId": self.channel_id, "authentication": auth}
        return self.send(payload, self.opened_with, path, headers=headers)

    def topup_payload(
        self, amount: int, sponsored: bool, request: SessionRequest, tx_amount: int | None = None
    ) -> dict[str, Any]:
        blockhash, _ = self.chain.latest_blockhash()
        tx = build_top_up_transaction(
            self.keys(request),
            tx_amount or amount,
            Hash.from_string(blockhash),
            Pubkey.from_string(str(request.method_details.fee_payer_key)) if sponsored else None,
        )
        if not sponsored:
            self.chain.airdrop(self.pubkey, 10_000_000)
        tx = partial_sign(tx, [self.keypair])
        return {
            "action": "topUp",
            "channelId": self.channel_id,
            "additionalAmount": str(amount),
            "transaction": encode_transaction(tx),
        }

    def topup(self, amount: int, sponsored: bool = True, path: str = "/paid") -> httpx.Response:
        challenge, request = self.challenge(path)
        return self.send(self.topup_payload(amount, sponsored, request), challenge, path)

    def keys(self, request: SessionRequest) -> ChannelKeys:
        channel = self.channel_id
        assert channel is not None
        d = request.method_details
        signer = (
            Pubkey.from_string(d.operator)
            if d.effective_voucher_signer == "operator"
            else self.signer.pubkey()
        )
        return ChannelKeys(
            Pubkey.from_string(channel),
            self.keypair.pubkey(),
            Pubkey.from_string(request.recipient),
            Pubkey.from_string(request.currency),
            signer,
            Pubkey.from_string(d.fee_payer_key or self.pubkey),
            Pubkey.from_string(str(d.token_program)),
            tuple(Split(Pubkey.from_string(s.recipient), s.share_bps) for s in d.splits),
        )

    def close(
        self, cumulative: int | None = None, signed: SignedVoucher | None = None, path: str = "/paid"
    ) -> httpx.Response:
        challenge, request = self.challenge(path)
        payload: dict[str, Any] = {"action": "close", "channelId": self.channel_id}
        if request.method_details.effective_voucher_signer == "operator":
            assert self.opened_with is not None
            payload["authentication"] = sign_bearer(
                self.keypair, str(self.channel_id), self.opened_with.id
            ).to_json()
        else:
            signed = signed or (self.voucher(cumulative) if cumulative is not None else self.last_voucher)
            assert signed is not None
            payload["voucher"] = signed.to_json()
        return self.send(payload, challenge, path)
