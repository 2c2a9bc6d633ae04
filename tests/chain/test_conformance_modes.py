"""The runner's chain modes, driven the way a harness drives them: `python -m mppcli.conformance --lines`."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
import subprocess
import sys
from collections.abc import Callable
from typing import Any

from solders.pubkey import Pubkey
from solders.signature import Signature
from spl.token.instructions import get_associated_token_address

from mppcli.chain.constants import PROGRAM_ID, TOKEN_2022_PROGRAM, TOKEN_PROGRAM
from mppcli.chain.ed25519 import ed25519_instruction_data
from mppcli.chain.instructions import open_instruction
from mppcli.chain.splits import Split
from mppcli.chain.txcodec import compile_transaction, encode_transaction, partial_sign
from mppcli.conformance.chain_modes import MODES
from mppcli.protocol.bearer import sign_bearer
from mppcli.protocol.voucher import Voucher, sign_voucher
from tests.chain.helpers import RECENT_SLOT, OpenCase, open_case, seeded
from tests.support import REPO

Check = Callable[[dict[str, Any]], None]


def run_lines(requests: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One runner process, one request per line, one answer line each, in order."""
    text = "".join(json.dumps(r) + "\n" for r in requests)
    proc = subprocess.run([sys.executable, "-m", "mppcli.conformance", "--lines"], input=text.encode(),
                          capture_output=True, cwd=REPO, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr.decode()
    answers = [json.loads(line) for line in proc.stdout.decode().splitlines()]
    assert len(answers) == len(requests), proc.stderr.decode()
    return answers


def ok(expected: dict[str, Any]) -> Check:
    def check(answer: dict[str, Any]) -> None:
        assert answer == {"ok": True, "output": expected}
    return check


def fails(fragment: str) -> Check:
    def check(answer: dict[str, Any]) -> None:
        assert answer["ok"] is False and fragment in answer["error"], answer
    return check


def accepted(answer: dict[str, Any]) -> None:
    assert answer == {"ok": True, "output": {"accepted": True}}


def refused(fragment: str) -> Check:
    def check(answer: dict[str, Any]) -> None:
        assert answer["ok"] is True, answer
        output = answer["output"]
        assert output["accepted"] is False and fragment in output["reason"], output
    return check


PAYER, PAYEE, MINT, SIGNER = (seeded(i).pubkey() for i in (41, 42, 43, 44))


def _channel_cases() -> list[tuple[dict[str, Any], Check]]:
    seeds = [b"channel", bytes(PAYER), bytes(PAYEE), bytes(MINT), bytes(SIGNER),
             (7).to_bytes(8, "little"), (99).to_bytes(8, "little")]
    address, bump = Pubkey.find_program_address(seeds, PROGRAM_ID)
    other = seeded(45).pubkey()
    other_address, other_bump = Pubkey.find_program_address(seeds, other)
    base = {"payer": str(PAYER), "payee": str(PAYEE), "mint": str(MINT), "authorizedSigner": str(SIGNER),
            "salt": "7", "openSlot": "99"}
    return [
        ({"mode": "channel.address", "input": base}, ok({"address": str(address), "bump": bump})),
        ({"mode": "channel.address", "input": {**base, "programId": str(other)}},
         ok({"address": str(other_address), "bump": other_bump})),
        ({"mode": "channel.address", "input": {**base, "salt": 7}}, fails("input.salt")),
        ({"mode": "channel.address", "input": {**base, "payer": "xyz"}}, fails("input.payer")),
    ]


def _escrow_cases() -> list[tuple[dict[str, Any], Check]]:
    channel = seeded(46).pubkey()
    rows = []
    for program in (TOKEN_PROGRAM, TOKEN_2022_PROGRAM):
        expected = get_associated_token_address(channel, MINT, program)
        rows.append(({"mode": "escrow.address", "input": {"channel": str(channel), "mint": str(MINT),
                                                            "tokenProgram": str(program)}},
                     ok({"address": str(expected)})))
    bad = {"channel": str(channel), "mint": str(MINT), "tokenProgram": str(SIGNER)}
    rows.append(({"mode": "escrow.address", "input": bad}, fails("neither SPL Token nor Token-2022")))
    return rows


def _splits_cases() -> list[tuple[dict[str, Any], Check]]:
    r1 = seeded(47).pubkey()
    preimage = (1).to_bytes(4, "little") + bytes(r1) + (250).to_bytes(2, "little")
    one = [{"recipient": str(r1), "shareBps": 250}]
    return [
        ({"mode": "splits.hash", "input": {"splits": []}},
         ok({"preimageHex": "00000000", "hashHex": hashlib.sha256(bytes(4)).hexdigest()})),
        ({"mode": "splits.hash", "input": {"splits": one}},
         ok({"preimageHex": preimage.hex(), "hashHex": hashlib.sha256(preimage).hexdigest()})),
        ({"mode": "splits.hash", "input": {"splits": one + one}}, fails("is listed twice")),
        ({"mode": "splits.hash", "input": {"splits": [{"recipient": str(r1), "shareBps": 0}]}},
         fails("shareBps")),
    ]


def _encode_cases() -> list[tuple[dict[str, Any], Check]]:
    rent = seeded(48).pubkey()
    open_args = {"openArgs": {"salt": "7", "deposit": "1000000", "gracePeriod": 60, "openSlot": "0",
                              "recipients": []}}
    accounts = {"payer": str(PAYER), "rentPayer": str(rent), "payee": str(PAYEE), "mint": str(MINT),
                "authorizedSigner": str(SIGNER), "tokenProgram": str(TOKEN_PROGRAM)}
    from mppcli.chain.params import OpenParams

    built = open_instruction(OpenParams(PAYER, PAYEE, MINT, SIGNER, 7, 1_000_000, 60, 0, rent))
    expected_open = {"programId": str(PROGRAM_ID),
                     "dataHex": "0107000000000000004042" "0f00000000003c000000000000000000000000000000",
                     "accounts": [_meta(m.pubkey, m.is_signer, m.is_writable) for m in built.accounts]}
    r1 = seeded(49).pubkey()
    channel = seeded(50).pubkey()
    distribute = {"name": "distribute",
                  "args": {"distributeArgs": {"recipients": [{"recipient": str(r1), "bps": 250}]}},
                  "accounts": {"channel": str(channel), "payer": str(PAYER), "rentPayer": str(rent),
                               "payeeTokenAccount": str(seeded(51).pubkey()), "mint": str(MINT),
                               "tokenProgram": str(TOKEN_PROGRAM)}}

    def distribute_check(answer: dict[str, Any]) -> None:
        assert answer["ok"], answer
        metas = answer["output"]["accounts"]
        assert len(metas) == 12
        assert metas[-1] == {"pubkey": str(get_associated_token_address(r1, MINT, TOKEN_PROGRAM)),
                             "isSigner": False, "isWritable": True}
        treasury = get_associated_token_address(
            Pubkey.from_string("Cs2zdfUNonRdRGsiZUQQLdTxzxVvJZmgiX2mpLYKuEqP"), MINT, TOKEN_PROGRAM)
        assert metas[6]["pubkey"] == str(treasury)
        assert answer["output"]["dataHex"] == "07" "01000000" + bytes(r1).hex() + "fa00"

    no_payee = {**distribute, "accounts": {k: v for k, v in distribute["accounts"].items()
                                           if k != "payeeTokenAccount"}}
    return [
        (_encode("open", open_args, accounts), ok(expected_open)),
        ({"mode": "instruction.encode", "input": distribute}, distribute_check),
        (_encode("seal", {}, {"channel": str(channel)}),
         ok({"programId": str(PROGRAM_ID), "dataHex": "06", "accounts": [_meta(channel, False, True)]})),
        (_encode("settleAndSeal", {"settleAndSealArgs": {"hasVoucher": 1}},
                 {"payee": str(PAYEE), "channel": str(channel)}), _settle_and_seal_check),
        ({"mode": "instruction.encode", "input": no_payee},
         fails("distribute needs account payeeTokenAccount")),
        (_encode("topUp", {"topUpArgs": {"amount": 5}}, {}),
         fails("input.args.topUpArgs.amount must be a decimal string")),
        ({"mode": "instruction.encode", "input": {"name": "teleport"}},
         fails("unknown instruction 'teleport'")),
    ]


def _encode(name: str, args: dict[str, Any], accounts: dict[str, str]) -> dict[str, Any]:
    return {"mode": "instruction.encode", "input": {"name": name, "args": args, "accounts": accounts}}


def _meta(key: Pubkey, signer: bool, writable: bool) -> dict[str, Any]:
    return {"pubkey": str(key), "isSigner": signer, "isWritable": writable}


def _settle_and_seal_check(answer: dict[str, Any]) -> None:
    assert answer["ok"], answer
    assert answer["output"]["dataHex"] == "0401"
    assert answer["output"]["accounts"][2]["pubkey"] == "Sysvar1nstructions1111111111111111111111111"


def _ed25519_cases() -> list[tuple[dict[str, Any], Check]]:
    signer = seeded(52)
    voucher = Voucher(str(seeded(53).pubkey()), 650, 4_102_444_800)
    signed = sign_voucher(signer, voucher)
    signature = Signature.from_string(signed.signature)
    data = ed25519_instruction_data(signer.pubkey(), signature, signed.message())
    wrong_type = {**signed.to_json(), "signatureType": "secp256r1"}
    return [
        ({"mode": "ed25519.instruction", "input": {"signedVoucher": signed.to_json()}},
         ok({"programId": "Ed25519SigVerify111111111111111111111111111", "dataHex": data.hex()})),
        ({"mode": "ed25519.instruction", "input": {"signedVoucher": wrong_type}}, fails("signatureType")),
    ]


def request_json(case: OpenCase, **details: Any) -> dict[str, Any]:
    method = {"network": "localnet", "channelProgram": str(PROGRAM_ID),
              "recentBlockhash": str(case.blockhash), "recentSlot": str(RECENT_SLOT), "decimals": 6,
              "tokenProgram": str(case.params.token_program), "gracePeriodSeconds": case.params.grace_period}
    if case.sponsored:
        method |= {"feePayer": True, "feePayerKey": str(case.operator.pubkey())}
    if case.params.splits:
        method["distributionSplits"] = [{"recipient": str(s.recipient), "shareBps": s.bps}
                                        for s in case.params.splits]
    method |= details
    return {"amount": "10", "currency": str(case.mint), "recipient": str(case.payee),
            "minimumDeposit": "1000", "methodDetails": method}


def payload_json(case: OpenCase, transaction: str | None = None, **extra: Any) -> dict[str, Any]:
    p = case.params
    payload = {"action": "open", "channelId": str(p.channel), "payer": str(p.payer), "payee": str(p.payee),
               "mint": str(p.mint), "authorizedSigner": str(p.authorized_signer), "salt": str(p.salt),
               "depositAmount": str(p.deposit), "gracePeriodSeconds": p.grace_period,
               "openSlot": str(p.open_slot), "transaction": transaction or case.wire()}
    if p.splits:
        payload["distributionSplits"] = [{"recipient": str(s.recipient), "shareBps": s.bps} for s in p.splits]
    return payload | extra


def _verify(request: dict[str, Any], payload: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"mode": "open.verify", "input": {"request": request, "payload": payload, **extra}}


def _open_cases() -> list[tuple[dict[str, Any], Check]]:
    case = open_case(splits=(Split(seeded(6).pubkey(), 250),))
    plain = open_case(sponsored=False)
    attacker = seeded(66).pubkey()
    bad_payee = dataclasses.replace(case.params, payee=attacker)
    bad = compile_transaction([open_instruction(bad_payee)], case.fee_payer, case.blockhash)
    bad_tx = encode_transaction(partial_sign(bad, [case.payer]))
    operator_case = open_case()
    proof = sign_bearer(operator_case.payer, str(operator_case.params.channel), "challenge-1").to_json()
    forged = {**proof, "signature": sign_bearer(seeded(67), str(operator_case.params.channel),
                                                "challenge-1").signature}
    operator_request = request_json(operator_case, voucherSigner="operator",
                                    operator=str(operator_case.signer.pubkey()))
    unsigned = base64.b64encode(bytes(case.unsigned())).decode()
    return [
        (_verify(request_json(case), payload_json(case), currentSlot=str(RECENT_SLOT + 5)), accepted),
        (_verify(request_json(plain), payload_json(plain)), accepted),
        (_verify(request_json(case), payload_json(case, bad_tx)), refused(f"open account payee {attacker}")),
        (_verify(request_json(case), payload_json(case, unsigned)), refused("payer's signature")),
        (_verify(request_json(case), payload_json(case, "AQID")), refused("transaction does not parse")),
        (_verify(request_json(case), payload_json(case, bump=255)), refused("bump")),
        (_verify(request_json(case), payload_json(case), currentSlot=str(RECENT_SLOT + 1501)),
         refused("more than 1500 slots before the current slot")),
        (_verify(request_json(case), payload_json(case), feePayerKey=str(attacker)),
         refused("is not the server's fee payer")),
        (_verify(request_json(case, distributionSplits=[]), payload_json(case)),
         refused("distributionSplits")),
        (_verify(operator_request, payload_json(operator_case, authentication=proof)), accepted),
        (_verify(operator_request, payload_json(operator_case, authentication=forged)),
         refused("authentication.signature")),
        (_verify(operator_request, payload_json(operator_case)), refused("requires authentication")),
        (_verify(request_json(case), payload_json(case, authentication=proof)),
         refused("must not carry authentication")),
        (_verify({"amount": "1"}, payload_json(case)), refused("methodDetails is required")),
        (_verify(request_json(case) | {"currency": "USDC"}, payload_json(case)),
         refused("currency must be a mint address")),
    ]


ALL_CASES = (_channel_cases() + _escrow_cases() + _splits_cases() + _encode_cases() + _ed25519_cases()
             + _open_cases())


def test_modes_table_is_complete() -> None:
    assert set(MODES) == {"channel.address", "escrow.address", "splits.hash", "instruction.encode",
                          "ed25519.instruction", "open.verify"}
    assert {request["mode"] for request, _ in ALL_CASES} == set(MODES)


def test_chain_modes_through_the_runner() -> None:
    answers = run_lines([request for request, _ in ALL_CASES])
    for (request, check), answer in zip(ALL_CASES, answers, strict=True):
        try:
            check(answer)
        except AssertionError as exc:
            raise AssertionError(f"{request['mode']}: {exc}") from None
