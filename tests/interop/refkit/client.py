"""Reference-kit session client: solana-pay-kit 0.10.0's client building blocks driven end to end.

Run with the reference venv's python. The reference ships no 402 loop for sessions, so this
driver is that loop, and nothing more: every payment decision and every byte on the wire comes
from the reference (`create_payment_channel_session_opener`, `ActiveSession`,
`serialize_session_credential`, `SessionConsumer`, `MeteredSseStream`, `HttpCommitTransport`).
Each paid call first fetches a fresh 402 challenge from the URL it is about to pay for and echoes
it, so the driver works against any server that speaks the session intent (the reference server
driver, or `mpp serve`).

Input:
  {"url": "http://127.0.0.1:PORT", "payerSecret": "<b58 64-byte keypair>",
   "paidPath"?: "/paid", "requests"?: 3,
   "streamPath"?: "/stream?chunks=5", "streams"?: 1, "streamCommit"?: "end" | "each",
   "deposit"?: "<base units>" (default: the challenge's suggestedDeposit / minimumDeposit),
   "idleTimeoutSeconds"?: null,
   "topUp"?: {"amount": "<base units>"} (needs "rpcUrl"; a payer-paid, fully signed topUp),
   "rpcUrl"?: "http://127.0.0.1:PORT",
   "close"?: true, "closePath"?: paidPath, "closeIncrement"?: 0, "timeout"?: 60}

streamCommit "end": the stock MeteredSseStream (latest directive wins, one ack after [DONE]);
"each": the same decoder and consumer, committing every directive as soon as it arrives (for
servers that meter per chunk and wait for the commit). A close resends the last voucher the
server accepted (the reference server accepts only that, or a higher one), unless
closeIncrement > 0 signs one more voucher.

Output (one JSON object): {"ok", "error"?, "channelId", "payer", "authorizedSigner", "deposit",
  "cumulative", "lastVoucher", "statuses", "receipts", "steps", "streams", "close"}
"""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

from _refkit import emit, keypair, read_request


class FlowStop(Exception):
    """A step did not get the answer the flow needs to go on."""


class RecordingTransport:
    """The reference's HttpCommitTransport, remembering the last voucher the server accepted."""

    def __init__(self, inner: Any, flow: Flow) -> None:
        self._inner = inner
        self._flow = flow

    def commit(self, directive: Any, payload: Any) -> Any:
        receipt = self._inner.commit(directive, payload)
        if receipt.status == "committed":
            self._flow.last_voucher = payload.voucher
        self._flow.commits.append(receipt.to_dict())
        return receipt


class Flow:
    """One payer's session against one server, step by step, with a record of each step."""

    def __init__(self, config: dict[str, Any]) -> None:
        import httpx

        self.config = config
        self.base = config["url"].rstrip("/")
        self.http = httpx.Client(timeout=float(config.get("timeout", 60)))
        self.payer = keypair(config["payerSecret"])
        self.steps: list[dict[str, Any]] = []
        self.streams: list[dict[str, Any]] = []
        self.commits: list[dict[str, Any]] = []
        self.session: Any = None
        self.request: Any = None
        self.proof: Any = None
        self.last_voucher: Any = None
        self.deposit: int | None = None
        self.authorized_signer: str | None = None

    # -- HTTP -----------------------------------------------------------------

    def challenge(self, path: str) -> tuple[Any, Any]:
        """GET `path` unpaid; the 402's solana/session challenge and its decoded request."""
        from solana_pay_kit.protocols.mpp.core.base64url import decode_json
        from solana_pay_kit.protocols.mpp.core.headers import parse_www_authenticate_all
        from solana_pay_kit.protocols.mpp.intents.session import SessionRequest

        response = self.http.get(self.base + path)
        if response.status_code != 402:
            raise FlowStop(f"GET {path} without payment answered {response.status_code}, not 402")
        found = [c for c in parse_www_authenticate_all(response.headers.get_list("www-authenticate"))
                 if c.method == "solana" and c.intent == "session"]
        if not found:
            raise FlowStop(f"GET {path}: no solana session challenge in {response.headers}")
        return found[0], SessionRequest.from_dict(decode_json(found[0].request))

    def pay(self, step: str, path: str, challenge: Any, action: Any,
            headers: dict[str, str] | None = None) -> Any:
        """Send `action` for `challenge` to `path`; record the step; stop unless it succeeded."""
        from solana_pay_kit.protocols.mpp.client.session import serialize_session_credential

        auth = {"authorization": serialize_session_credential(challenge, action), **(headers or {})}
        response = self.http.get(self.base + path, headers=auth)
        self.record(step, response, challenge)
        if response.status_code != 200:
            raise FlowStop(f"{step}: {path} answered {response.status_code}: {response.text[:400]}")
        return response

    def record(self, step: str, response: Any, challenge: Any) -> None:
        entry: dict[str, Any] = {"step": step, "status": response.status_code, "challengeId": challenge.id}
        receipt = response.headers.get("payment-receipt")
        if receipt:
            entry["receipt"] = _decode_receipt(receipt)
        if response.status_code != 200 and not response.headers.get("content-type", "").startswith(
                "text/event-stream"):
            entry["body"] = _json_or_text(response)
        self.steps.append(entry)

    # -- session steps ----------------------------------------------------------

    def open(self) -> None:
        from solana_pay_kit.protocols.mpp.client.payment_channels import (
            PaymentChannelOpenOptions,
            PaymentChannelSessionOpenOptions,
            create_payment_channel_session_opener,
            generate_authorized_signer,
        )

        challenge, request = self.challenge(self.paid_path)
        options = PaymentChannelOpenOptions(
            deposit=int(self.config["deposit"]) if self.config.get("deposit") else None)
        self.proof = self.operator_proof(challenge, request, options)
        opened = create_payment_channel_session_opener(
            request, self.payer, generate_authorized_signer(),
            options=PaymentChannelSessionOpenOptions(
                open=options, authentication=self.proof,
                idle_timeout_seconds=self.config.get("idleTimeoutSeconds")))
        self.session, self.request, self.deposit = opened.session, request, opened.open.deposit
        self.authorized_signer = str(opened.open.authorized_signer)
        self.pay("open", self.paid_path, challenge, opened.action)

    def operator_proof(self, challenge: Any, request: Any, options: Any) -> Any:
        """The payer proof an operator-signed channel needs (bound to the channel, so salt first)."""
        if request.method_details.voucher_signer != "operator":
            return None
        from solana_pay_kit.protocols.mpp.client.payment_channels import (
            derive_payment_channel_open,
            unique_salt,
        )
        from solana_pay_kit.protocols.mpp.intents.session import sign_session_authentication
        from solders.pubkey import Pubkey

        options.salt = unique_salt()
        operator = Pubkey.from_string(request.method_details.operator)
        derived = derive_payment_channel_open(request, self.payer.pubkey(), operator, options)
        return sign_session_authentication(challenge.id, str(derived.channel_id), self.payer)

    def paid_request(self, index: int) -> None:
        challenge, request = self.challenge(self.paid_path)
        action, voucher, headers = self.charge(request)
        self.pay(f"request{index}", self.paid_path, challenge, action, headers)
        self.last_voucher = voucher or self.last_voucher

    def charge(self, request: Any) -> tuple[Any, Any, dict[str, str]]:
        """The action that pays one request at the challenge's price: a voucher, or `use`."""
        if self.proof is not None:
            return self.session.use_action(self.proof), None, {"idempotency-key": str(uuid.uuid4())}
        action = self.session.voucher_action(int(request.amount))
        return action, action.voucher.voucher, {}

    def stream(self, index: int) -> None:
        from solana_pay_kit.protocols.mpp.client.http_stream import HttpCommitTransport
        from solana_pay_kit.protocols.mpp.client.session import serialize_session_credential
        from solana_pay_kit.protocols.mpp.client.session_consumer import SessionConsumer

        path = self.config.get("streamPath", "/stream?chunks=5")
        challenge, request = self.challenge(path)
        action, voucher, headers = self.charge(request)
        headers["authorization"] = serialize_session_credential(challenge, action)
        consumer = SessionConsumer(self.session, RecordingTransport(HttpCommitTransport(self.http), self))
        with self.http.stream("GET", self.base + path, headers=headers) as response:
            self.record(f"stream{index}", response, challenge)
            if response.status_code != 200:
                response.read()
                self.steps[-1]["body"] = _json_or_text(response)
                raise FlowStop(f"stream{index}: {path} answered {response.status_code}")
            self.last_voucher = voucher or self.last_voucher
            self.streams.append(self.consume(consumer, response))

    def consume(self, consumer: Any, response: Any) -> dict[str, Any]:
        from solana_pay_kit.protocols.mpp.client.http_stream import MeteredSseStream, SseDecoder

        record: dict[str, Any] = {"messages": [], "events": [], "commits": []}
        before = len(self.commits)
        if self.config.get("streamCommit", "end") == "each":
            self.consume_each(consumer, response, record)
        else:
            spy = SseDecoder()
            stream = MeteredSseStream(consumer, _tee(response.iter_bytes(), spy, record))
            record["messages"] = list(stream)
            try:
                stream.ack()
            except ValueError as exc:
                record["error"] = str(exc)
        record["commits"] = self.commits[before:]
        return record

    def consume_each(self, consumer: Any, response: Any, record: dict[str, Any]) -> None:
        from solana_pay_kit.protocols.mpp.client.http_stream import SseDecoder, parse_metered_sse_event

        decoder = SseDecoder()
        for chunk in response.iter_bytes():
            for event in decoder.push_chunk(chunk):
                record["events"].append(event.event or "message")
                parsed = parse_metered_sse_event(event)
                if parsed.kind == "metering":
                    consumer.commit_directive(parsed.metering)
                elif parsed.kind == "message":
                    record["messages"].append(parsed.message)
                elif parsed.kind == "done":
                    return

    def top_up(self) -> None:
        from open_tx import top_up_transaction
        from solana_pay_kit._paycore.rpc import SolanaRpc

        amount = int(self.config["topUp"]["amount"])
        blockhash = asyncio.run(_latest_blockhash(SolanaRpc(self.config["rpcUrl"])))
        challenge, request = self.challenge(self.paid_path)
        wire = top_up_transaction(request, self.payer, self.session.channel_id_string, amount, blockhash)
        self.pay("topUp", self.paid_path, challenge, self.session.top_up_action(amount, wire))
        self.deposit = (self.deposit or 0) + amount

    def close(self) -> None:
        from solana_pay_kit.protocols.mpp.intents.session import ClosePayload, SessionAction

        path = self.config.get("closePath", self.paid_path)
        challenge, _ = self.challenge(path)
        increment = int(self.config.get("closeIncrement", 0))
        if self.proof is not None:
            action = self.session.close_action(authentication=self.proof)
        elif increment > 0 or self.last_voucher is None:
            action = self.session.close_action(max(increment, 1))
            self.last_voucher = action.close.voucher
        else:
            action = SessionAction.close_action(ClosePayload(
                channel_id=self.session.channel_id_string, voucher=self.last_voucher))
        self.pay("close", path, challenge, action)

    @property
    def paid_path(self) -> str:
        return str(self.config.get("paidPath", "/paid"))

    # -- the whole run ------------------------------------------------------------

    def run(self) -> None:
        self.open()
        for index in range(int(self.config.get("requests", 3))):
            self.paid_request(index)
        if self.config.get("topUp"):
            self.top_up()
        for index in range(int(self.config.get("streams", 1))):
            self.stream(index)
        if self.config.get("close", True):
            self.close()

    def summary(self) -> dict[str, Any]:
        session = self.session
        return {
            "channelId": session.channel_id_string if session else None,
            "payer": str(self.payer.pubkey()),
            "authorizedSigner": self.authorized_signer,
            "deposit": str(self.deposit) if self.deposit is not None else None,
            "cumulative": str(session.cumulative) if session else None,
            "lastVoucher": self.last_voucher.to_dict() if self.last_voucher is not None else None,
            "request": self.request.to_dict() if self.request is not None else None,
            "statuses": [step["status"] for step in self.steps],
            "receipts": [step["receipt"] for step in self.steps if "receipt" in step],
            "steps": self.steps,
            "streams": self.streams,
            "close": next((s for s in self.steps if s["step"] == "close"), None),
        }


def _tee(chunks: Any, spy: Any, record: dict[str, Any]) -> Any:
    """Pass chunks through while noting every SSE event name (the stock stream hides some)."""
    for chunk in chunks:
        record["events"].extend(event.event or "message" for event in spy.push_chunk(chunk))
        yield chunk


async def _latest_blockhash(rpc: Any) -> str:
    try:
        return str((await rpc.get_latest_blockhash()).value.blockhash)
    finally:
        await rpc.aclose()


def _decode_receipt(header: str) -> dict[str, Any]:
    from solana_pay_kit.protocols.mpp.core.base64url import decode_json
    from solana_pay_kit.protocols.mpp.core.headers import parse_receipt

    parse_receipt(header)  # the reference client's own validation must pass
    decoded: dict[str, Any] = decode_json(header)
    return decoded


def _json_or_text(response: Any) -> Any:
    try:
        return response.json()
    except (ValueError, json.JSONDecodeError):
        return response.text[:2000]


def main() -> None:
    flow: Flow | None = None
    try:
        flow = Flow(read_request())
        flow.run()
        emit({"ok": True, **flow.summary()})
    except Exception as exc:
        summary = flow.summary() if flow is not None else {}
        emit({"ok": False, "error": f"{type(exc).__name__}: {exc}", **summary})


if __name__ == "__main__":
    main()
