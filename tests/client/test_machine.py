"""The payer machine: the transition table, the watermark rules, and what it agrees to sign."""

from __future__ import annotations

from pathlib import Path

import pytest

from mppcli.client import machine as m
from mppcli.client.machine import Budget, ChannelView, Status
from mppcli.errors import InternalError, PolicyError, ProtocolViolation
from mppcli.state.record import ChannelStatus

OPEN = ChannelView(status=Status.OPEN, deposit=1000)


def test_a_whole_session_moves_state_and_watermarks_step_by_step() -> None:
    view = ChannelView(status=Status.OPENING, deposit=0)
    view = m.step(view, m.OpenAccepted(deposit=1000))
    assert view == ChannelView(status=Status.OPEN, deposit=1000)
    view = m.step(view, m.VoucherSigned(100))
    assert view == ChannelView(status=Status.OPEN, deposit=1000, signed=100)
    view = m.step(view, m.VoucherAccepted(cumulative=100, spent=100))
    assert view == ChannelView(status=Status.OPEN, deposit=1000, signed=100, accepted=100, spent=100)
    view = m.step(view, m.TopUpAccepted(deposit=1500))
    assert view == ChannelView(status=Status.OPEN, deposit=1500, signed=100, accepted=100, spent=100)
    view = m.step(view, m.CloseSent())
    assert view.status is Status.CLOSING
    view = m.step(view, m.CloseSettled(settled=100, refunded=1400))
    assert view == ChannelView(status=Status.CLOSED, deposit=1500, signed=100, accepted=100, spent=100,
                               settled=100, refunded=1400)


def test_force_close_then_finalize() -> None:
    view = m.step(OPEN, m.ForceCloseLanded())
    assert view.status is Status.CLOSING
    view = m.step(view, m.ChainSealed(deposit=1000, settled=0))
    assert view.status is Status.PENDING_FINALIZE
    view = m.step(view, m.Withdrawn(settled=0, refunded=1000))
    assert view == ChannelView(status=Status.CLOSED, deposit=1000, refunded=1000)


# The lifecycle, written out by hand (not read back from machine.TRANSITIONS): status, event, next.
EXPECTED_TRANSITIONS = """
    opening OpenAccepted open          opening OpenRejected orphaned     opening OpenExpired closed
    opening ChainOpen open             opening ChainClosing closing      opening ChainSealed pending-finalize
    opening ChainDistributed closed
    open OpenAccepted open             open VoucherSigned open           open VoucherAccepted open
    open UseAccepted open              open TopUpAccepted open           open CloseSent closing
    open CloseSettled closed           open ForceCloseLanded closing     open ChainOpen open
    open ChainClosing closing          open ChainSealed pending-finalize open ChainDistributed closed
    open ChainAbsent closed
    closing VoucherSigned closing      closing VoucherAccepted closing   closing CloseSent closing
    closing CloseSettled closed        closing ForceCloseLanded closing  closing ChainOpen open
    closing ChainClosing closing       closing ChainSealed pending-finalize
    closing ChainDistributed closed    closing ChainAbsent closed
    pending-finalize Withdrawn closed  pending-finalize CloseSettled closed
    pending-finalize ChainSealed pending-finalize
    pending-finalize ChainDistributed closed                             pending-finalize ChainAbsent closed
    orphaned ForceCloseLanded closing  orphaned ChainOpen orphaned       orphaned ChainClosing closing
    orphaned ChainSealed pending-finalize                                orphaned ChainDistributed closed
    orphaned ChainAbsent closed
    closed ChainAbsent closed          closed ChainDistributed closed    closed ChainSealed pending-finalize
    closed CloseSettled closed
"""
SAMPLES: dict[str, m.Event] = {
    "OpenAccepted": m.OpenAccepted(1000), "OpenRejected": m.OpenRejected(),
    "OpenExpired": m.OpenExpired(), "VoucherSigned": m.VoucherSigned(0),
    "VoucherAccepted": m.VoucherAccepted(0, 0), "UseAccepted": m.UseAccepted(0, 0),
    "TopUpAccepted": m.TopUpAccepted(1000),
    "CloseSent": m.CloseSent(), "CloseSettled": m.CloseSettled(0, 1000),
    "ForceCloseLanded": m.ForceCloseLanded(), "Withdrawn": m.Withdrawn(0, 1000),
    "ChainOpen": m.ChainOpen(1000, 0), "ChainClosing": m.ChainClosing(1000, 0, 9),
    "ChainSealed": m.ChainSealed(1000, 0), "ChainDistributed": m.ChainDistributed(1000, 0),
    "ChainAbsent": m.ChainAbsent(),
}


def _expected() -> dict[tuple[str, str], str]:
    words = EXPECTED_TRANSITIONS.split()
    return {(words[i], words[i + 1]): words[i + 2] for i in range(0, len(words), 3)}


def test_exactly_the_written_transitions_are_allowed() -> None:
    expected = _expected()
    for status in Status:
        for name, event in SAMPLES.items():
            view = ChannelView(status=status, deposit=1000)
            if (status.value, name) in expected:
                assert m.step(view, event).status.value == expected[(status.value, name)], (status, name)
            else:
                with pytest.raises(m.IllegalTransition, match=name):
                    m.step(view, event)


def test_the_diagram_in_docs_internals_is_the_table() -> None:
    docs = (Path(__file__).resolve().parents[2] / "docs" / "internals.md").read_text()
    assert m.diagram() in docs


def test_the_machine_moves_between_exactly_the_statuses_a_record_stores() -> None:
    assert Status is ChannelStatus
    assert {status.value for status in Status} == {
        "opening", "open", "closing", "pending-finalize", "closed", "orphaned"}


def test_only_an_open_channel_signs() -> None:
    for status in Status:
        view = ChannelView(status=status, deposit=1000)
        if status is Status.OPEN:
            assert m.request_cumulative(view, 10, Budget()) == 10
        else:
            with pytest.raises(m.IllegalTransition, match="cannot pay"):
                m.request_cumulative(view, 10, Budget())
            with pytest.raises(m.IllegalTransition, match="cannot pay"):
                m.check_use_allowed(view, 10, Budget())


def test_never_signs_above_the_deposit() -> None:
    with pytest.raises(InternalError):
        m.step(OPEN, m.VoucherSigned(1001))


def test_a_server_cannot_push_accepted_above_signed() -> None:
    view = m.step(OPEN, m.VoucherSigned(100))
    with pytest.raises(ProtocolViolation, match="above the 100 this client signed"):
        m.step(view, m.VoucherAccepted(cumulative=200, spent=100))
    with pytest.raises(ProtocolViolation, match="above the 100"):
        m.step(m.step(view, m.CloseSent()), m.CloseSettled(settled=150, refunded=850))


def test_watermarks_never_go_backwards() -> None:
    view = ChannelView(status=Status.OPEN, deposit=1000, signed=300, accepted=300, spent=300)
    assert m.step(view, m.VoucherSigned(100)).signed == 300
    assert m.step(view, m.VoucherAccepted(cumulative=100, spent=100)).accepted == 300
    assert m.step(view, m.TopUpAccepted(deposit=500)).deposit == 1000


def test_request_voucher_is_exactly_the_price_above_accepted() -> None:
    view = ChannelView(status=Status.OPEN, deposit=1000, signed=250, accepted=200, spent=200)
    assert m.request_cumulative(view, 100, Budget()) == 300


def test_request_voucher_beyond_the_deposit_asks_for_a_top_up() -> None:
    view = ChannelView(status=Status.OPEN, deposit=1000, signed=950, accepted=950)
    with pytest.raises(m.BalanceExhausted) as caught:
        m.request_cumulative(view, 100, Budget())
    assert caught.value.needed == 50
    assert caught.value.exit_code == 5


def test_request_voucher_beyond_max_spend_is_refused_by_policy() -> None:
    with pytest.raises(PolicyError, match="max-spend 50"):
        m.request_cumulative(OPEN, 100, Budget(max_spend=50))
    budget = Budget(max_spend=250)
    view = OPEN
    for _ in range(2):
        cumulative = m.request_cumulative(view, 100, budget)
        budget = budget.after_signing(view, cumulative)
        view = m.step(m.step(view, m.VoucherSigned(cumulative)), m.VoucherAccepted(cumulative, cumulative))
    assert budget.paid == 200
    with pytest.raises(PolicyError, match="already paid 200"):
        m.request_cumulative(view, 100, budget)


def test_resending_an_already_signed_voucher_costs_no_budget() -> None:
    view = ChannelView(status=Status.OPEN, deposit=1000, signed=300, accepted=200)
    assert Budget(max_spend=10).after_signing(view, 300).paid == 0
    assert Budget(max_spend=10).after_signing(view, 350).paid == 50


def test_zero_price_is_a_protocol_violation() -> None:
    with pytest.raises(ProtocolViolation):
        m.request_cumulative(OPEN, 0, Budget())


def test_commit_signs_what_was_metered_and_never_more_than_the_price() -> None:
    view = ChannelView(status=Status.OPEN, deposit=1000, signed=40, accepted=40)
    assert m.commit_cumulative(view, 10, 10, Budget()) == 50
    assert m.commit_cumulative(view, 7, 10, Budget()) == 47
    with pytest.raises(ProtocolViolation, match="more than the price"):
        m.commit_cumulative(view, 11, 10, Budget())
    with pytest.raises(ProtocolViolation):
        m.commit_cumulative(view, 0, 10, Budget())


def test_commit_past_the_deposit_is_the_servers_fault() -> None:
    view = ChannelView(status=Status.OPEN, deposit=45, signed=40, accepted=40)
    with pytest.raises(ProtocolViolation, match="past the deposit"):
        m.commit_cumulative(view, 10, 10, Budget())


def test_receipt_must_confirm_exactly_the_voucher_sent() -> None:
    view = ChannelView(status=Status.OPEN, deposit=1000, signed=300, accepted=200, spent=200)
    assert m.check_voucher_receipt(view, 300, 300, 300) == m.VoucherAccepted(300, 300)
    with pytest.raises(ProtocolViolation, match="replayed or stale"):
        m.check_voucher_receipt(view, 300, 200, 200)
    with pytest.raises(ProtocolViolation, match="above the 300"):
        m.check_voucher_receipt(view, 300, 400, 300)
    with pytest.raises(ProtocolViolation, match="went backwards"):
        m.check_voucher_receipt(view, 300, 300, 100)
    # a metering server charges `spent` ahead of the vouchers (spec, Crash Safety): the record
    # keeps only the vouched part, never more than this client signed
    assert m.check_voucher_receipt(view, 300, 300, 301) == m.VoucherAccepted(300, 300)


def test_replayed_commit_is_clamped_to_what_was_signed() -> None:
    view = ChannelView(status=Status.OPEN, deposit=1000, signed=60, accepted=50)
    assert m.check_commit_receipt(view, 60, "replayed", 900).cumulative == 60
    assert m.check_commit_receipt(view, 60, "replayed", 10).cumulative == 50
    assert m.check_commit_receipt(view, 60, "committed", 60).cumulative == 60
    with pytest.raises(ProtocolViolation):
        m.check_commit_receipt(view, 60, "committed", 70)
    with pytest.raises(ProtocolViolation):
        m.check_commit_receipt(view, 60, "ok", 60)


@pytest.mark.parametrize(
    ("suggested", "minimum", "requested", "cap", "expected"),
    [
        (1000, None, None, None, 1000),  # the suggestion
        (1000, None, 400, None, 400),  # --deposit lowers it
        (1000, None, 5000, None, 1000),  # ... but the server's suggestion still bounds it
        (1000, None, None, 300, 300),  # --max-spend lowers it
        (None, 200, None, None, 200),  # no suggestion: the minimum
        (None, None, None, None, 1000),  # nothing: 100 x price
        (100, 200, None, None, 200),  # a suggestion below the minimum is raised to it
    ],
)
def test_choose_deposit(suggested: int | None, minimum: int | None, requested: int | None,
                        cap: int | None, expected: int) -> None:
    got = m.choose_deposit(price=10, suggested=suggested, minimum=minimum, requested=requested,
                           budget=Budget(max_spend=cap))
    assert got == expected


def test_choose_deposit_refuses_below_the_servers_minimum() -> None:
    with pytest.raises(PolicyError, match="minimumDeposit 500"):
        m.choose_deposit(price=10, suggested=1000, minimum=500, requested=None,
                         budget=Budget(max_spend=400))


def test_top_up_amount_respects_the_cap() -> None:
    view = ChannelView(status=Status.OPEN, deposit=1000, signed=1000, accepted=1000)
    assert m.top_up_amount(view, 10, 500, Budget(max_spend=3000)) == 500
    assert m.top_up_amount(view, 10, 500, Budget(max_spend=1200, locked=1000)) == 200
    with pytest.raises(m.BalanceExhausted, match="leaves room for 5"):
        m.top_up_amount(view, 10, 500, Budget(max_spend=1005, locked=1000))
    with pytest.raises(m.BalanceExhausted, match="no --max-spend"):
        m.top_up_amount(view, 10, 500, Budget())


def test_operator_mode_moves_by_exactly_the_price() -> None:
    view = ChannelView(status=Status.OPEN, deposit=1000, accepted=200, spent=200)
    m.check_use_allowed(view, 100, Budget())
    assert m.check_use_receipt(view, 100, 300, 300) == m.UseAccepted(300, 300)
    with pytest.raises(ProtocolViolation, match="for one request priced 100"):
        m.check_use_receipt(view, 100, 400, 300)
    assert m.step(view, m.UseAccepted(300, 300)).accepted == 300
    with pytest.raises(m.BalanceExhausted):
        m.check_use_allowed(ChannelView(status=Status.OPEN, deposit=250, accepted=200), 100, Budget())


def test_the_documented_state_diagram_is_the_transition_table() -> None:
    from pathlib import Path

    internals = Path(__file__).resolve().parents[2] / "docs" / "internals.md"
    assert f"```mermaid\n{m.diagram()}\n```" in internals.read_text()


def test_a_drained_channel_records_the_refund_the_chain_paid() -> None:
    view = ChannelView(status=Status.OPEN, deposit=1000, signed=300, accepted=300, spent=300)
    closed = m.step(view, m.ChainDistributed(deposit=1000, settled=300))
    assert (closed.status, closed.settled, closed.refunded) == (Status.CLOSED, 300, 700)
