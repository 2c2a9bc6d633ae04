"""A test driver for the embedded ledger: real transactions over its JSON-RPC port, through our Rpc.

Every transaction a test lands goes through `Chain.submit`, which checks conservation around it:
the lamports of every account the transaction names drop by exactly the fee (5000 per signature,
precompile signatures included), and for every mint involved the tokens held by those accounts
change exactly as the mint's supply does (unchanged, unless the transaction mints).
`Chain.refuse` checks the opposite for a refused transaction: every account it names is
byte-for-byte as before.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Coroutine, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import httpx
from solders.instruction import AccountMeta, Instruction
from solders.keypair import Keypair
from solders.message import Message, MessageV0
from solders.pubkey import Pubkey
from solders.transaction import VersionedTransaction

from mppcli.chain.channel import ChannelAccount, decode_channel
from mppcli.chain.constants import ED25519_PROGRAM, TOKEN_PROGRAM
from mppcli.chain.ed25519 import ed25519_instruction
from mppcli.chain.instructions import open_instruction
from mppcli.chain.params import ChannelKeys, OpenParams
from mppcli.chain.pda import associated_token_address
from mppcli.chain.splits import Split
from mppcli.protocol.voucher import Voucher, voucher_message
from mppcli.rpc import Rpc, TransactionRejected

T = TypeVar("T")
LAMPORTS_PER_SIGNATURE = 5000
SOL = 10**9


@dataclass(frozen=True)
class Snapshot:
    """Lamports, owner and data of some accounts, plus token holdings and supplies per mint."""

    accounts: dict[str, tuple[int, str, bytes] | None]
    tokens: dict[str, int]
    supplies: dict[str, int]

    @property
    def lamports(self) -> int:
        return sum(a[0] for a in self.accounts.values() if a)


@dataclass
class Opened:
    """A channel opened by `Chain.open_channel`, with the keys of everyone involved."""

    params: OpenParams
    payer: Keypair
    operator: Keypair
    session: Keypair
    payee: Keypair
    signature: str = ""
    recipients: tuple[Keypair, ...] = field(default=())

    @property
    def channel(self) -> Pubkey:
        return self.params.channel

    @property
    def keys(self) -> ChannelKeys:
        return self.params.keys()


class Chain:
    """Synchronous helpers over one ledger; each call runs on the chain's own event loop."""

    def __init__(self, rpc_url: str, mint: str) -> None:
        self.url = rpc_url
        self.mint = Pubkey.from_string(mint)
        self._loop = asyncio.new_event_loop()
        self.rpc = Rpc(rpc_url)
        self._http = httpx.Client(timeout=30)

    def close(self) -> None:
        self.run(self.rpc.close())
        self._loop.close()
        self._http.close()

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return self._loop.run_until_complete(coro)

    def call(self, method: str, params: list[Any]) -> Any:
        """A raw JSON-RPC call (for methods our Rpc does not wrap)."""
        body = {"jsonrpc": "2.0", "id": 1, "method": method, "params": params}
        answer = self._http.post(self.url, json=body).json()
        if "error" in answer:
            raise AssertionError(f"{method}: {answer['error']}")
        return answer["result"]

    # --- clock and funding ---------------------------------------------------------------------
    def slot(self) -> int:
        return self.run(self.rpc.slot())

    def unix_time(self) -> int:
        return int(self.call("getBlockTime", [self.slot()]))

    def warp(self, slots: int | None = None, seconds: int | None = None) -> tuple[int, int]:
        return self.run(self.rpc.warp(slots, seconds))

    def fund(self, sol: int = 2 * SOL, tokens: int = 0) -> Keypair:
        """A fresh keypair holding `sol` lamports and `tokens` of the test stablecoin."""
        keypair = Keypair()
        if sol:
            self.run(self.rpc.confirm(self.run(self.rpc.request_airdrop(keypair.pubkey(), sol)), 30))
        if tokens:
            self.run(self.rpc.confirm(self.run(self.rpc.faucet_mint(keypair.pubkey(), tokens)), 30))
        return keypair

    def give_token_account(self, owner: Pubkey) -> None:
        """Create `owner`'s test-stablecoin ATA (by minting one base unit into it)."""
        self.run(self.rpc.confirm(self.run(self.rpc.faucet_mint(owner, 1)), 30))

    # --- reads ---------------------------------------------------------------------------------
    def lamports(self, key: Pubkey) -> int:
        return self.run(self.rpc.balance(key))

    def tokens(self, owner: Pubkey, mint: Pubkey | None = None) -> int:
        ata = associated_token_address(owner, mint or self.mint, TOKEN_PROGRAM)
        if self.run(self.rpc.account(ata)) is None:
            return 0
        return self.run(self.rpc.token_balance(ata))

    def channel(self, key: Pubkey) -> ChannelAccount | None:
        found = self.run(self.rpc.account(key))
        return None if found is None else decode_channel(found[2])

    def exists(self, key: Pubkey) -> bool:
        return self.run(self.rpc.account(key)) is not None

    def snapshot(self, keys: Sequence[Pubkey]) -> Snapshot:
        listed = [str(k) for k in dict.fromkeys(keys)]
        raw = self.call("getMultipleAccounts", [listed, {"encoding": "base64"}])["value"]
        parsed = self.call("getMultipleAccounts", [listed, {"encoding": "jsonParsed"}])["value"]
        accounts = {k: None if a is None else (a["lamports"], a["owner"], base64.b64decode(a["data"][0]))
                    for k, a in zip(listed, raw, strict=True)}
        tokens: dict[str, int] = {}
        mints = {key for key, item in zip(listed, parsed, strict=True) if _parsed_info(item, "mint")}
        for item in parsed:
            info = _parsed_info(item, "account")
            if info is not None:
                tokens[info["mint"]] = tokens.get(info["mint"], 0) + int(info["tokenAmount"]["amount"])
                mints.add(info["mint"])
        supplies = {mint: int(self.call("getTokenSupply", [mint])["value"]["amount"]) for mint in mints}
        return Snapshot(accounts, tokens, supplies)

    # --- transactions --------------------------------------------------------------------------
    def build(self, instructions: Sequence[Instruction], fee_payer: Keypair, *signers: Keypair,
              legacy: bool = False) -> VersionedTransaction:
        blockhash, _slot = self.run(self.rpc.latest_blockhash())
        message: Message | MessageV0
        if legacy:
            message = Message.new_with_blockhash(list(instructions), fee_payer.pubkey(), blockhash)
        else:
            message = MessageV0.try_compile(fee_payer.pubkey(), list(instructions), [], blockhash)
        return VersionedTransaction(message, [fee_payer, *signers])

    def submit(self, instructions: Sequence[Instruction], fee_payer: Keypair, *signers: Keypair) -> str:
        """Land a transaction and check that it conserved lamports and tokens."""
        tx = self.build(instructions, fee_payer, *signers)
        keys = list(tx.message.account_keys)
        before = self.snapshot(keys)
        signature = self.run(self.rpc.send_transaction(bytes(tx)))
        self.run(self.rpc.confirm(signature, 30))
        check_conservation(before, self.snapshot(keys), expected_fee(tx))
        return signature

    def refuse(self, instructions: Sequence[Instruction], fee_payer: Keypair,
               *signers: Keypair) -> TransactionRejected:
        """Send a transaction that must be refused; check that it left no trace."""
        tx = self.build(instructions, fee_payer, *signers)
        keys = list(tx.message.account_keys)
        before = self.snapshot(keys)
        try:
            self.run(self.rpc.send_transaction(bytes(tx)))
        except TransactionRejected as rejected:
            assert self.snapshot(keys) == before, "a refused transaction changed accounts"
            return rejected
        raise AssertionError("the transaction was accepted")

    def error(self, instructions: Sequence[Instruction], fee_payer: Keypair, *signers: Keypair) -> Any:
        """The InstructionError of a refused transaction: `[index, {"Custom": n}]` or `[index, "Name"]`."""
        err = self.refuse(instructions, fee_payer, *signers).err
        assert isinstance(err, dict) and "InstructionError" in err, err
        return err["InstructionError"]

    # --- channels ------------------------------------------------------------------------------
    def open_channel(self, deposit: int = 1_000_000, grace: int = 60, splits: Sequence[Split] = (),
                     payer_tokens: int | None = None, separate_payee: bool = False,
                     open_slot: int | None = None, salt: int = 7) -> Opened:
        """Open a channel: the operator pays fees and rent and (by default) is the payee; the payee
        gets a token account holding one base unit."""
        payer = self.fund(SOL // 10, deposit if payer_tokens is None else payer_tokens)
        operator = self.fund(2 * SOL)
        payee = self.fund(SOL // 10) if separate_payee else operator
        self.give_token_account(payee.pubkey())
        session = Keypair()
        slot = self.slot() if open_slot is None else open_slot
        params = OpenParams(payer.pubkey(), payee.pubkey(), self.mint, session.pubkey(), salt, deposit, grace,
                            slot, operator.pubkey(), splits=tuple(splits))
        opened = Opened(params, payer, operator, session, payee)
        opened.signature = self.submit([open_instruction(params)], operator, payer)
        return opened


def voucher(session: Keypair, channel: Pubkey, cumulative: int, expires_at: int = 0) -> Instruction:
    """The Ed25519 precompile instruction carrying a voucher signed by `session`."""
    message = voucher_message(Voucher(str(channel), cumulative, expires_at))
    return ed25519_instruction(session.pubkey(), session.sign_message(message), message)


def signed_message(signer: Keypair, message: bytes) -> Instruction:
    """A precompile instruction over arbitrary 50 bytes (for malformed vouchers)."""
    return ed25519_instruction(signer.pubkey(), signer.sign_message(message), message)


def with_accounts(ix: Instruction, metas: Sequence[AccountMeta]) -> Instruction:
    return Instruction(ix.program_id, bytes(ix.data), list(metas))


def replace_account(ix: Instruction, index: int, key: Pubkey, signer: bool | None = None) -> Instruction:
    """`ix` with account `index` swapped for `key` (and optionally its signer flag changed)."""
    metas = list(ix.accounts)
    old = metas[index]
    metas[index] = AccountMeta(key, old.is_signer if signer is None else signer, old.is_writable)
    return with_accounts(ix, metas)


def unsigned(ix: Instruction, index: int) -> Instruction:
    """`ix` with account `index` no longer marked as a signer."""
    return replace_account(ix, index, ix.accounts[index].pubkey, signer=False)


def expected_fee(tx: VersionedTransaction) -> int:
    """5000 lamports per transaction signature and per precompile signature."""
    message = tx.message
    keys = list(message.account_keys)
    precompile = sum(bytes(ci.data)[0] for ci in message.instructions
                     if keys[ci.program_id_index] == ED25519_PROGRAM)
    return LAMPORTS_PER_SIGNATURE * (len(tx.signatures) + precompile)


def check_conservation(before: Snapshot, after: Snapshot, fee: int) -> None:
    assert before.lamports - fee == after.lamports, (
        f"lamports not conserved: {before.lamports} - fee {fee} != {after.lamports}")
    for mint in set(before.supplies) | set(after.supplies):
        held = after.tokens.get(mint, 0) - before.tokens.get(mint, 0)
        minted = after.supplies.get(mint, 0) - before.supplies.get(mint, 0)
        assert held == minted, f"tokens of {mint} changed by {held} but its supply by {minted}"


def _parsed_info(item: Any, kind: str) -> dict[str, Any] | None:
    if item is None or not isinstance(item["data"], dict):
        return None
    parsed = item["data"]["parsed"]
    return dict(parsed["info"]) if parsed["type"] == kind else None
