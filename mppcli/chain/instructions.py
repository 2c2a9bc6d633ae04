"""Every channel-program instruction, built and decoded from the IDL.

`encode_instruction("topUp", {"topUpArgs": {"amount": 5000}}, {"payer": p, "channel": c, "mint": m,
"tokenProgram": t})` fills in the accounts the IDL can derive (token accounts, the event authority,
sysvars, the program itself) and returns a solders `Instruction`. `decode_instruction` is its
inverse and refuses unknown discriminators, trailing bytes and wrong account counts. The typed
builders at the bottom are what the client, server and ledger call.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from solders.instruction import AccountMeta, Instruction
from solders.pubkey import Pubkey

from mppcli.chain import borsh
from mppcli.chain.constants import PROGRAM_ID, TREASURY_OWNER
from mppcli.chain.idl import Derivation, Idl, InstructionDef, Named, StructDef, load_idl
from mppcli.chain.params import ChannelKeys, OpenParams
from mppcli.chain.pda import find_pda
from mppcli.errors import MalformedError

Value = Pubkey | int


@dataclass(frozen=True)
class DecodedInstruction:
    """A channel-program instruction read back: IDL names for arguments and accounts."""

    name: str
    program_id: Pubkey
    args: Mapping[str, Any]
    accounts: Mapping[str, Pubkey]
    remaining: tuple[Pubkey, ...]

    def fields(self) -> dict[str, Any]:
        """The argument struct fields flattened (`salt`, `deposit`, ... for `open`)."""
        return _flatten(load_idl(), instruction_def(self.name), self.args)


def instruction_def(name: str) -> InstructionDef:
    idl = load_idl()
    if name not in idl.instructions:
        raise MalformedError(f"unknown instruction {name!r} (known: {', '.join(idl.instructions)})")
    return idl.instructions[name]


def instruction_data(name: str, args: Mapping[str, Any]) -> bytes:
    """Discriminator byte followed by the Borsh arguments."""
    idl = load_idl()
    ix = instruction_def(name)
    return bytes([ix.discriminator]) + borsh.encode_fields(idl, ix.args, args, name)


def encode_instruction(name: str, args: Mapping[str, Any], accounts: Mapping[str, Pubkey],
                       program_id: Pubkey = PROGRAM_ID,
                       remaining: Sequence[Pubkey] | None = None) -> Instruction:
    """Build instruction `name`; derivable accounts may be omitted, `remaining` defaults to derived."""
    data = instruction_data(name, args)
    ix = instruction_def(name)
    resolver = _Resolver(load_idl(), ix, accounts, _flatten(load_idl(), ix, args), program_id)
    metas = [AccountMeta(resolver.key(s.name), s.signer, s.writable) for s in ix.accounts]
    return Instruction(program_id, data, metas + resolver.remaining(remaining))


def decode_instruction(program_id: Pubkey, data: bytes,
                       accounts: Sequence[Pubkey | AccountMeta]) -> DecodedInstruction:
    """Parse a channel-program instruction; every malformation raises `MalformedError`."""
    idl = load_idl()
    if not data:
        raise MalformedError("instruction data is empty")
    ix = idl.instruction_by_discriminator(data[0])
    if ix is None:
        raise MalformedError(f"unknown instruction discriminator {data[0]}")
    args, end = borsh.decode_fields(idl, ix.args, bytes(data), 1, ix.name)
    if end != len(data):
        raise MalformedError(f"{ix.name} data has {len(data) - end} trailing bytes")
    keys = [a.pubkey if isinstance(a, AccountMeta) else a for a in accounts]
    _check_account_count(ix, len(keys))
    named = {spec.name: key for spec, key in zip(ix.accounts, keys, strict=False)}
    return DecodedInstruction(ix.name, program_id, args, named, tuple(keys[len(ix.accounts):]))


def _check_account_count(ix: InstructionDef, count: int) -> None:
    fixed = len(ix.accounts)
    if count < fixed or (ix.remaining is None and count != fixed):
        tail = " plus its recipient token accounts" if ix.remaining else ""
        raise MalformedError(f"{ix.name} takes {fixed} accounts{tail}, got {count}")


def _flatten(idl: Idl, ix: InstructionDef, args: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, t in ix.args:
        body = idl.types.get(t.name) if isinstance(t, Named) else None
        if isinstance(body, StructDef):
            out.update(args[name])
        else:
            out[name] = args[name]
    return out


class _Resolver:
    """Finds each account: given by the caller, else derived as the IDL says."""

    def __init__(self, idl: Idl, ix: InstructionDef, given: Mapping[str, Pubkey],
                 fields: Mapping[str, Any], program_id: Pubkey):
        known = {s.name for s in ix.accounts}
        unknown = sorted(set(given) - known)
        if unknown:
            raise MalformedError(f"{ix.name} has no account named {unknown[0]!r}")
        self.idl, self.ix, self.given, self.fields, self.program_id = idl, ix, given, fields, program_id
        self.specs = {s.name: s for s in ix.accounts}
        self.busy: set[str] = set()

    def value(self, name: str, local: Mapping[str, Value] | None = None) -> Value:
        if local and name in local:
            return local[name]
        if name.startswith("@"):
            return Pubkey.from_string(self.idl.addresses[name[1:]])
        if name in self.given:
            return self.given[name]
        if name in self.fields:
            return self.fields[name]  # type: ignore[no-any-return]
        spec = self.specs.get(name)
        if spec is None or spec.derive is None or name in self.busy:
            raise MalformedError(f"{self.ix.name} needs account {name}")
        self.busy.add(name)
        try:
            return self.derive(spec.derive)
        finally:
            self.busy.discard(name)

    def key(self, name: str) -> Pubkey:
        found = self.value(name)
        if not isinstance(found, Pubkey):
            raise MalformedError(f"{self.ix.name} account {name} must be a public key")
        return found

    def derive(self, derivation: Derivation, local: Mapping[str, Value] | None = None) -> Pubkey:
        if derivation.kind == "address":
            if derivation.target == "self":
                return self.program_id
            return Pubkey.from_string(self.idl.addresses[derivation.target])
        pda = self.idl.pdas[derivation.target]
        values = {s.value: self.value(derivation.sources.get(s.value, s.value), local)
                  for s in pda.seeds if s.kind != "utf8"}
        return find_pda(derivation.target, values, self.program_id)[0]

    def remaining(self, explicit: Sequence[Pubkey] | None) -> list[AccountMeta]:
        tail = self.ix.remaining
        if tail is None:
            if explicit:
                raise MalformedError(f"{self.ix.name} takes no extra accounts")
            return []
        keys = list(explicit) if explicit is not None else [
            self.derive(tail.derive, item) for item in self.fields[tail.one_for]]
        return [AccountMeta(k, tail.signer, tail.writable) for k in keys]


# --- typed builders -------------------------------------------------------------------------------

def _entries(keys_splits: Sequence[Any]) -> list[dict[str, object]]:
    return [s.to_entry() for s in keys_splits]


def open_instruction(p: OpenParams) -> Instruction:
    """`open`: creates the channel and escrow, moves the deposit, commits the splits hash."""
    args = {"openArgs": {"salt": p.salt, "deposit": p.deposit, "gracePeriod": p.grace_period,
                         "openSlot": p.open_slot, "recipients": _entries(p.splits)}}
    accounts = {"payer": p.payer, "rentPayer": p.rent_payer, "payee": p.payee, "mint": p.mint,
                "authorizedSigner": p.authorized_signer, "tokenProgram": p.token_program}
    return encode_instruction("open", args, accounts, p.program_id)


def top_up_instruction(keys: ChannelKeys, amount: int) -> Instruction:
    """`topUp`: the payer adds `amount` to the deposit."""
    accounts = {"payer": keys.payer, "channel": keys.channel, "mint": keys.mint,
                "tokenProgram": keys.token_program}
    return encode_instruction("topUp", {"topUpArgs": {"amount": amount}}, accounts, keys.program_id)


def settle_instruction(channel: Pubkey, program_id: Pubkey = PROGRAM_ID) -> Instruction:
    """`settle`: advances `settled` with the voucher of the preceding Ed25519 instruction."""
    return encode_instruction("settle", {}, {"channel": channel}, program_id)


def settle_and_seal_instruction(keys: ChannelKeys, has_voucher: bool) -> Instruction:
    """`settleAndSeal`: the payee's cooperative close, optionally applying one last voucher."""
    args = {"settleAndSealArgs": {"hasVoucher": 1 if has_voucher else 0}}
    return encode_instruction("settleAndSeal", args, {"payee": keys.payee, "channel": keys.channel},
                              keys.program_id)


def request_close_instruction(keys: ChannelKeys) -> Instruction:
    """`requestClose`: the payer starts the forced close (grace period begins)."""
    return encode_instruction("requestClose", {}, {"payer": keys.payer, "channel": keys.channel},
                              keys.program_id)


def seal_instruction(channel: Pubkey, program_id: Pubkey = PROGRAM_ID) -> Instruction:
    """`seal`: anyone, once the grace period after `requestClose` has elapsed."""
    return encode_instruction("seal", {}, {"channel": channel}, program_id)


def distribute_instruction(keys: ChannelKeys, treasury_owner: Pubkey = TREASURY_OWNER) -> Instruction:
    """`distribute`: payouts by the committed splits (and, once sealed, refund, sweep and close)."""
    accounts = {"channel": keys.channel, "payer": keys.payer, "rentPayer": keys.rent_payer,
                "payeeTokenAccount": keys.token_account(keys.payee),
                "treasuryTokenAccount": keys.token_account(treasury_owner),
                "mint": keys.mint, "tokenProgram": keys.token_program}
    args = {"distributeArgs": {"recipients": _entries(keys.splits)}}
    return encode_instruction("distribute", args, accounts, keys.program_id)


def withdraw_payer_instruction(keys: ChannelKeys) -> Instruction:
    """`withdrawPayer`: the payer's one-shot refund of `deposit - settled` once sealed."""
    accounts = {"payer": keys.payer, "channel": keys.channel, "mint": keys.mint,
                "tokenProgram": keys.token_program}
    return encode_instruction("withdrawPayer", {}, accounts, keys.program_id)


def reclaim_instruction(channel: Pubkey, rent_payer: Pubkey, program_id: Pubkey = PROGRAM_ID) -> Instruction:
    """`reclaim`: returns a distributed channel's rent once the open-slot window has passed."""
    return encode_instruction("reclaim", {}, {"channel": channel, "rentPayer": rent_payer}, program_id)
