"""The ledger refuses bad splits with the program code chain's `validate_splits` names: one rule set."""

from __future__ import annotations

import pytest
from solders.keypair import Keypair
from solders.pubkey import Pubkey

from mppcli.chain.instructions import open_instruction
from mppcli.chain.program_errors import code_of
from mppcli.chain.splits import Split, SplitRejected, validate_splits
from mppcli.ledger.errors import TransactionFailed
from mppcli.ledger.runner import RunningLedger
from tests.ledger.harness import Chain
from tests.ledger.test_open import _params, _parties, _refused_code


def _expected(splits: tuple[Split, ...], channel: Pubkey | None = None) -> list[object]:
    with pytest.raises(SplitRejected) as raised:
        validate_splits(splits, channel)
    return [0, {"Custom": code_of(raised.value.error)}]


def test_refused_splits_fail_on_chain_with_the_code_chain_names(chain: Chain, ledger: RunningLedger) -> None:
    payer, operator = _parties(chain)
    one, other = Keypair().pubkey(), Keypair().pubkey()
    too_many = tuple(Split(Keypair().pubkey(), 1) for _ in range(33))
    # 33 entries make the open ~1750 bytes: the RPC refuses it as a cluster would (one packet is
    # 1232 bytes), so the program's own count check is reached only in-process.
    oversized = [open_instruction(_params(chain, payer, operator, splits=too_many))]
    assert "too large" in str(chain.refuse(oversized, operator, payer))
    tx = chain.build([open_instruction(_params(chain, payer, operator, splits=too_many))], operator, payer)
    with pytest.raises(TransactionFailed) as in_process:
        ledger.ledger.send(bytes(tx))
    assert [in_process.value.err["InstructionError"]] == [_expected(too_many)]  # type: ignore[index]
    assert _expected(too_many) == [0, {"Custom": 260}]
    cases = [
        (Split(one, 20_000), Split(one, 1)),
        (Split(one, 10_001),),
        (Split(one, 0), Split(other, 5)),
    ]
    codes = []
    for splits in cases:
        refused = _refused_code(chain, _params(chain, payer, operator, splits=splits), payer, operator)
        assert refused == _expected(splits)
        codes.append(refused)
    assert codes == [[0, {"Custom": 263}], [0, {"Custom": 261}], [0, {"Custom": 261}]]


def test_the_channel_as_its_own_recipient_fails_with_the_same_code(chain: Chain) -> None:
    payer, operator = _parties(chain)
    base = _params(chain, payer, operator)
    splits = (Split(Keypair().pubkey(), 5), Split(base.channel, 10))
    itself = _params(chain, payer, operator, authorized_signer=base.authorized_signer,
                     open_slot=base.open_slot, splits=splits)
    refused = _refused_code(chain, itself, payer, operator)
    assert refused == _expected(splits, base.channel) == [0, {"Custom": 261}]
