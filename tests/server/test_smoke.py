from tests.server.payer import Payer, receipt_of


def test_open_pay_close(opened: Payer) -> None:
    price = 10_000
    r = opened.pay(price)
    rec = receipt_of(r)
    assert rec.accepted_cumulative == price and rec.spent == price
    r = opened.pay(2 * price)
    assert receipt_of(r).spent == 2 * price
    r = opened.close()
    rec = receipt_of(r)
    assert rec.tx_hash and rec.refunded == 1_000_000 - 2 * price
