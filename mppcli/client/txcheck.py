"""Decode what we are about to sign and compare it with what we meant to sign.

NOTES ("lessons from peers"): a Solana payer tool lost funds when a built transaction deposited
more than intended. So the payer never signs bytes it has not read back: the transaction must hold
exactly one instruction, of the known channel program, and its decoded deposit, payer, payee, mint,
signer and fee payer must be the values our policy chose. Pure (no I/O): `OpenRejected`-style
mismatches become `InternalError` here, because a mismatch means our own builder is wrong.
"""

from __future__ import annotations

from solders.hash import Hash
from solders.pubkey import Pubkey
from solders.transaction import VersionedTransaction

from mppcli.chain import txcodec
from mppcli.chain.instructions import DecodedInstruction, decode_instruction
from mppcli.chain.params import ChannelKeys, OpenParams
from mppcli.chain.pda import associated_token_address
from mppcli.errors import InternalError, MalformedError


def check_open(tx: VersionedTransaction, params: OpenParams, recent_blockhash: Hash) -> None:
    """The open we built is exactly the one `params` describe: read back from its bytes, every
    account (the channel PDA and both token accounts derived independently) and every argument.

    `params` is the open's one projection: the builder, this check, the credential and the record
    are all made from it, so the check is the only one (issue 15 item 4).
    """
    message = txcodec.message_of(tx)
    _require(message.recent_blockhash == recent_blockhash, "blockhash is not the challenged one")
    fee_payer = params.rent_payer
    decoded = _only_call(tx, params.program_id, fee_payer, "open", {params.payer, fee_payer})
    fields, accounts = decoded.fields(), decoded.accounts
    channel = params.channel
    expected = {
        "payer": params.payer, "rentPayer": fee_payer, "payee": params.payee, "mint": params.mint,
        "authorizedSigner": params.authorized_signer, "channel": channel,
        "payerTokenAccount": associated_token_address(params.payer, params.mint, params.token_program),
        "channelTokenAccount": associated_token_address(channel, params.mint, params.token_program),
        "tokenProgram": params.token_program,
    }
    for name, want in expected.items():
        _require(accounts[name] == want, f"open account {name} is {accounts[name]}, meant {want}")
    _require(fields["deposit"] == params.deposit,
             f"open deposits {fields['deposit']}, meant {params.deposit}")
    for arg, value in (("salt", params.salt), ("gracePeriod", params.grace_period),
                       ("openSlot", params.open_slot)):
        _require(fields[arg] == value, f"open {arg} is {fields[arg]}, meant {value}")
    recipients = [(entry["recipient"], entry["bps"]) for entry in fields["recipients"]]
    meant = [(split.recipient, split.bps) for split in params.splits]
    _require(recipients == meant, f"open splits are {recipients}, meant {meant}")


def check_top_up(tx: VersionedTransaction, keys: ChannelKeys, amount: int, fee_payer: Pubkey) -> None:
    """The top-up adds exactly `amount` to the channel `keys` describe (its one projection, also what
    the builder used), from its payer and in its mint."""
    decoded = _only_call(tx, keys.program_id, fee_payer, "topUp", {keys.payer, fee_payer})
    accounts = decoded.accounts
    expected = {"payer": keys.payer, "channel": keys.channel, "mint": keys.mint,
                "tokenProgram": keys.token_program}
    for name, want in expected.items():
        _require(accounts[name] == want, f"topUp {name} is {accounts[name]}, meant {want}")
    _require(decoded.fields()["amount"] == amount, f"topUp adds {decoded.fields()['amount']}, meant {amount}")


def _only_call(tx: VersionedTransaction, program: Pubkey, fee_payer: Pubkey, name: str,
               signers: set[Pubkey]) -> DecodedInstruction:
    message = txcodec.message_of(tx)
    _require(not txcodec.uses_lookup_tables(message), "the transaction uses lookup tables")
    _require(message.account_keys[0] == fee_payer,
             f"fee payer is {message.account_keys[0]}, meant {fee_payer}")
    _require(set(txcodec.signer_keys(message)) <= signers,
             f"signers {txcodec.signer_keys(message)} go beyond {sorted(map(str, signers))}")
    calls = txcodec.compiled_calls(message)
    _require(len(calls) == 1, f"{len(calls)} instructions, meant one {name}")
    call = calls[0]
    _require(call.program_id == program, f"the instruction calls {call.program_id}, meant {program}")
    try:
        decoded = decode_instruction(call.program_id, call.data, list(call.accounts))
    except MalformedError as exc:
        raise InternalError(f"the {name} we built does not decode: {exc}") from None
    _require(decoded.name == name, f"the instruction is {decoded.name}, meant {name}")
    return decoded


def _require(ok: bool, what: str) -> None:
    if not ok:
        raise InternalError(f"refusing to sign: {what}")
