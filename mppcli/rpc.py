"""The one Solana RPC port: every read, broadcast and confirmation the project makes.

`Rpc(url)` wraps solana-py's `AsyncClient` and behaves the same against the embedded ledger,
devnet and mainnet; only `faucet_mint`, `ledger_info` and `warp` use the embedded ledger's own
extensions (see `mppcli.ledger.rpc_methods`). Every failure is an `RpcError`; a transaction the
cluster refuses is a `TransactionRejected` (an `RpcError`) that carries Solana's error and logs and,
when the channel program refused it, names the program's error (`openSlotOutOfWindow (2003): ...`).

    rpc = Rpc("http://127.0.0.1:8899")
    blockhash, slot = await rpc.latest_blockhash()
    signature = await rpc.send_transaction(bytes(signed_tx))
    await rpc.confirm(signature, timeout=30)
    await rpc.close()
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple, TypeVar
from urllib.parse import urlsplit, urlunsplit

from mppcli.errors import RpcError

if TYPE_CHECKING:
    from solders.clock import Clock
    from solders.hash import Hash
    from solders.pubkey import Pubkey
    from solders.token.state import Mint

T = TypeVar("T")
CONFIRM_POLL_SECONDS = 0.2
SENT_REMEMBERED = 256  # signatures whose programs `confirm` can name; a long `mpp serve` keeps the latest
MINT_SIZE = 82  # an SPL mint's base layout; Token-2022 extensions follow it


class AccountInfo(NamedTuple):
    """An account as the RPC reports it. Decode its data with `mint()` / `clock()`, not by offset."""

    owner: Pubkey
    lamports: int
    data: bytes

    def mint(self) -> Mint | None:
        """The SPL Token / Token-2022 mint this account holds, None when it is not an initialized mint."""
        from solders.token.state import Mint

        if len(self.data) < MINT_SIZE:
            return None
        try:
            return Mint.from_bytes(self.data[:MINT_SIZE])
        except ValueError:
            return None

    def clock(self) -> Clock | None:
        """The Clock sysvar's fields, None when the data is not a Clock."""
        from solders.clock import Clock

        try:
            return Clock.from_bytes(self.data)
        except ValueError:
            return None

def websocket_url(http_url: str) -> str:
    """The RPC's pubsub endpoint by Solana's convention: ws(s) scheme, and port + 1 when the URL
    names a port (`http://127.0.0.1:8899` -> `ws://127.0.0.1:8900`; `https://host` -> `wss://host`)."""
    parts = urlsplit(http_url)
    scheme = {"http": "ws", "https": "wss"}.get(parts.scheme, parts.scheme)
    netloc = parts.netloc
    if parts.port is not None:
        host = netloc.rsplit(":", 1)[0]
        netloc = f"{host}:{parts.port + 1}"
    return urlunsplit((scheme, netloc, parts.path, parts.query, parts.fragment))


class TransactionRejected(RpcError):
    """The cluster refused a transaction (preflight) or it landed with an error."""

    def __init__(self, message: str, err: Any = None, logs: Sequence[str] = (),
                 instruction: int | None = None, program: str | None = None,
                 custom_code: int | None = None) -> None:
        super().__init__(message, hint="The transaction did not apply; see the reason above.")
        self.err = err
        self.logs = list(logs)
        self.instruction = instruction
        self.program = program
        self.custom_code = custom_code


def describe_err(err: Any, programs: Sequence[str] = ()) -> tuple[str, int | None, int | None]:
    """Solana's error JSON -> (text, instruction index, custom code); channel-program codes by name."""
    detail = err.get("InstructionError") if isinstance(err, dict) else None
    if not (isinstance(detail, list) and len(detail) == 2 and type(detail[0]) is int):
        return f"transaction failed: {err}", None, None  # also whatever an odd endpoint sends
    index, inner = detail
    program = programs[index] if 0 <= index < len(programs) else None
    code = inner.get("Custom") if isinstance(inner, dict) else None
    if type(code) is int:
        return f"instruction {index} failed: {_describe_custom(code, program)}", index, code
    return f"instruction {index} failed: {inner}", index, None


def _describe_custom(code: int, program: str | None) -> str:
    from mppcli.chain.constants import PROGRAM_ID
    from mppcli.chain.program_errors import describe

    if program is None or program == str(PROGRAM_ID):
        return describe(code) if program else f"custom program error {code:#x} ({describe(code)}?)"
    return f"custom program error {code:#x} from program {program}"


def _program_ids(raw: bytes) -> list[str]:
    """The program of each instruction of a wire transaction (for naming errors)."""
    from solders.transaction import VersionedTransaction

    try:
        message = VersionedTransaction.from_bytes(raw).message
        keys = list(message.account_keys)
        return [str(keys[ci.program_id_index]) if ci.program_id_index < len(keys) else ""
                for ci in message.instructions]
    except Exception:  # an undecodable transaction is the cluster's to refuse; naming is best effort
        return []


class Rpc:
    """An async Solana JSON-RPC client for one endpoint."""

    def __init__(self, url: str, timeout: float = 30.0) -> None:
        from solana.rpc.async_api import AsyncClient
        from solana.rpc.commitment import Confirmed

        self.url = url
        self._commitment = Confirmed
        self._client = AsyncClient(url, commitment=Confirmed, timeout=timeout)
        self._timeout = timeout
        self._sent: OrderedDict[str, list[str]] = OrderedDict()
        self._http: Any = None  # httpx.AsyncClient for the ledger's extensions, made on first use

    async def close(self) -> None:
        await self._client.close()
        if self._http is not None:
            await self._http.aclose()

    async def __aenter__(self) -> Rpc:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # --- the one place failures are translated ------------------------------------------------------
    async def _guard(self, what: str, call: Callable[[], Awaitable[T]],
                     refused: Callable[[Exception], RpcError] | None = None) -> T:
        from solana.exceptions import SolanaRpcException
        from solana.rpc.core import RPCException
        from solders.errors import SerdeJSONError

        try:
            return await call()
        except RPCException as exc:
            raise (refused(exc) if refused else RpcError(f"{what} failed: {_rpc_message(exc)}")) from None
        except SolanaRpcException as exc:
            raise RpcError(f"cannot reach the Solana RPC at {self.url} ({what}): {_cause(exc)}") from None
        except (TimeoutError, OSError) as exc:
            raise RpcError(f"cannot reach the Solana RPC at {self.url} ({what}): {exc}") from None
        except (ValueError, SerdeJSONError) as exc:  # solders could not parse the answer (not a ValueError)
            raise RpcError(f"the RPC at {self.url} sent an answer to {what} that does not parse: {exc}",
                           hint="Is this URL a Solana JSON-RPC endpoint?") from None

    # --- cluster facts -------------------------------------------------------------------------------
    async def latest_blockhash(self) -> tuple[Hash, int]:
        resp = await self._guard("getLatestBlockhash",
                                 lambda: self._client.get_latest_blockhash(self._commitment))
        return resp.value.blockhash, int(resp.context.slot)

    async def slot(self) -> int:
        resp = await self._guard("getSlot", lambda: self._client.get_slot(self._commitment))
        return int(resp.value)

    async def genesis_hash(self) -> str:
        resp = await self._guard("getGenesisHash", self._client.get_genesis_hash)
        return str(resp.value)

    async def minimum_balance(self, size: int) -> int:
        resp = await self._guard("getMinimumBalanceForRentExemption",
                                 lambda: self._client.get_minimum_balance_for_rent_exemption(size))
        return int(resp.value)

    # --- accounts ------------------------------------------------------------------------------------
    async def account(self, pubkey: Pubkey) -> AccountInfo | None:
        """The account, or None when it does not exist."""
        resp = await self._guard("getAccountInfo",
                                 lambda: self._client.get_account_info(pubkey, self._commitment))
        value = resp.value
        return None if value is None else AccountInfo(value.owner, int(value.lamports), bytes(value.data))

    async def accounts(self, pubkeys: Sequence[Pubkey]) -> list[AccountInfo | None]:
        resp = await self._guard("getMultipleAccounts",
                                 lambda: self._client.get_multiple_accounts(list(pubkeys), self._commitment))
        return [None if v is None else AccountInfo(v.owner, int(v.lamports), bytes(v.data))
                for v in resp.value]

    async def balance(self, pubkey: Pubkey) -> int:
        resp = await self._guard("getBalance", lambda: self._client.get_balance(pubkey, self._commitment))
        return int(resp.value)

    async def token_balance(self, ata: Pubkey) -> int:
        """Base units held by a token account."""
        resp = await self._guard("getTokenAccountBalance",
                                 lambda: self._client.get_token_account_balance(ata, self._commitment))
        return int(resp.value.amount)

    async def program_accounts(self, program: Pubkey, filters: Sequence[dict[str, Any]] = ()
                               ) -> list[tuple[Pubkey, Pubkey, int, bytes]]:
        """(address, owner, lamports, data) of every account of `program` matching `filters`
        (`{"dataSize": n}`, `{"memcmp": {"offset": n, "bytes": base58}}`)."""
        converted = [_filter(f) for f in filters]
        resp = await self._guard("getProgramAccounts", lambda: self._client.get_program_accounts(
            program, self._commitment, "base64", None, converted))
        return [(item.pubkey, item.account.owner, int(item.account.lamports), bytes(item.account.data))
                for item in resp.value]

    # --- transactions --------------------------------------------------------------------------------
    async def send_transaction(self, raw: bytes, skip_preflight: bool = False) -> str:
        """Broadcast signed wire bytes; a preflight failure raises TransactionRejected."""
        from solana.rpc.models import TxOpts

        opts = TxOpts(skip_preflight=skip_preflight, preflight_commitment=self._commitment,
                      skip_confirmation=True)
        programs = _program_ids(raw)
        resp = await self._guard("sendTransaction", lambda: self._client.send_raw_transaction(raw, opts),
                                 lambda exc: _rejected(exc, programs))
        signature = str(resp.value)
        self._sent[signature] = programs
        while len(self._sent) > SENT_REMEMBERED:
            self._sent.popitem(last=False)
        return signature

    async def confirm(self, signature: str, timeout: float = 60.0) -> None:
        """Wait until the transaction is confirmed; raise TransactionRejected if it failed."""
        from solders.signature import Signature

        sig = Signature.from_string(str(signature))
        deadline = time.monotonic() + timeout
        while True:
            resp = await self._guard("getSignatureStatuses",
                                     lambda: self._client.get_signature_statuses([sig], True))
            status = resp.value[0]
            if status is not None and _confirmed(status):
                err = json.loads(status.to_json()).get("err")
                if err is not None:
                    text, index, code = describe_err(err, self._sent.get(str(signature), ()))
                    raise TransactionRejected(text, err, (), index, None, code)
                return
            if time.monotonic() >= deadline:
                raise RpcError(f"transaction {signature} was not confirmed within {timeout:g} s",
                               hint="It may still land; check again later (e.g. `mpp channels sync`).")
            await asyncio.sleep(CONFIRM_POLL_SECONDS)

    async def transaction_status(self, signature: str) -> dict[str, Any] | None:
        """The status JSON (`slot`, `err`, `confirmationStatus`) or None when unknown."""
        from solders.signature import Signature

        sig = Signature.from_string(str(signature))
        resp = await self._guard("getSignatureStatuses",
                                 lambda: self._client.get_signature_statuses([sig], True))
        status = resp.value[0]
        return None if status is None else dict(json.loads(status.to_json()))

    # --- faucets and ledger extensions ---------------------------------------------------------------
    async def request_airdrop(self, pubkey: Pubkey, lamports: int) -> str:
        resp = await self._guard("requestAirdrop",
                                 lambda: self._client.request_airdrop(pubkey, lamports, self._commitment))
        return str(resp.value)

    async def faucet_mint(self, owner: Pubkey, amount: int, mint: Pubkey | str | None = None) -> str:
        """Mint the embedded ledger's test stablecoin to `owner` (creating its token account)."""
        params: list[Any] = [str(owner), str(amount)]
        if mint is not None:
            params.append({"mint": str(mint)})
        result = await self._extension("mpp_mintTestTokens", params, ("signature",))
        return str(result["signature"])

    async def ledger_info(self) -> dict[str, Any] | None:
        """The embedded ledger's facts (test mint, genesis hash); None on any other cluster."""
        try:
            return dict(await self._extension("mpp_ledgerInfo", [], ()))
        except _MethodNotFound:
            return None

    async def warp(self, slots: int | None = None, seconds: int | None = None) -> tuple[int, int]:
        """Move the embedded ledger's clock forward (tests); returns (slot, unix time)."""
        config = {k: v for k, v in (("slots", slots), ("seconds", seconds)) if v is not None}
        result = await self._extension("mpp_warp", [config], ("slot", "unixTimestamp"))
        return int(result["slot"]), int(result["unixTimestamp"])

    async def _extension(self, method: str, params: list[Any], keys: Sequence[str]) -> dict[str, Any]:
        """Call one of the embedded ledger's methods; its result must be an object holding `keys`."""
        import httpx

        body = {"jsonrpc": "2.0", "id": 1, "method": method, "params": params}
        if self._http is None:
            self._http = httpx.AsyncClient(timeout=self._timeout)
        try:
            answer = (await self._http.post(self.url, json=body)).json()
        except (httpx.HTTPError, ValueError) as exc:
            raise RpcError(f"cannot reach the Solana RPC at {self.url} ({method}): {exc}") from None
        if not isinstance(answer, dict):
            raise RpcError(f"the RPC at {self.url} sent an answer to {method} that is not a JSON-RPC object",
                           hint="Is this URL a Solana JSON-RPC endpoint?")
        error = answer.get("error")
        if error is not None:
            raise _extension_error(self.url, method, error)
        result = answer.get("result")
        if not isinstance(result, dict) or any(key not in result for key in keys):
            raise RpcError(f"the RPC at {self.url} sent a {method} result that is not an object with "
                           f"{', '.join(keys) or 'fields'}: {str(result)[:200]}")
        return result


def _extension_error(url: str, method: str, error: Any) -> RpcError:
    if isinstance(error, dict) and error.get("code") == -32601:
        return _MethodNotFound(f"{url} does not offer {method}: it is not an mpp localnet ledger",
                               hint="The faucet exists only on `mpp localnet` / `mpp serve`'s ledger.")
    message = error.get("message") if isinstance(error, dict) else error
    return RpcError(f"{method} failed: {str(message)[:200]}")


class _MethodNotFound(RpcError):
    pass


def _rpc_message(exc: Exception) -> str:
    detail = exc.args[0] if exc.args else exc
    return str(getattr(detail, "message", None) or detail)


def _cause(exc: BaseException) -> str:
    inner = exc.__cause__ or exc
    return f"{type(inner).__name__}: {inner}" if str(inner) else type(inner).__name__


def _confirmed(status: Any) -> bool:
    level = str(getattr(status, "confirmation_status", "") or "").lower()
    return "confirmed" in level or "finalized" in level


def _filter(rule: dict[str, Any]) -> Any:
    from solana.rpc.models import MemcmpOpts

    if "dataSize" in rule:
        return int(rule["dataSize"])
    if "memcmp" in rule:
        return MemcmpOpts(offset=int(rule["memcmp"]["offset"]), bytes=str(rule["memcmp"]["bytes"]))
    raise RpcError(f"unsupported getProgramAccounts filter {rule}")


def _rejected(exc: Exception, programs: Sequence[str]) -> RpcError:
    """A refused sendTransaction, with Solana's error, logs and the channel program's code name."""
    message = _rpc_message(exc)
    detail = exc.args[0] if exc.args else exc
    to_json = getattr(getattr(detail, "data", None), "to_json", None)
    simulated = json.loads(to_json()) if to_json is not None else {}
    err, logs = simulated.get("err"), simulated.get("logs") or []
    if not (isinstance(err, dict) and "InstructionError" in err):
        return TransactionRejected(f"the transaction was refused: {message}", err, logs)
    text, index, code = describe_err(err, programs)
    program = programs[index] if index is not None and index < len(programs) else None
    return TransactionRejected(f"the transaction was refused: {text}", err, logs, index, program, code)
