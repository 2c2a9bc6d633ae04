"""The gateway's route table (`mppcli.server.routes`): parsing, pricing and most-specific matching."""

from __future__ import annotations

import pytest

from mppcli.server.routes import PER_EVENT, PER_REQUEST, RouteTable, parse_route, rule_from_table


def test_a_route_reads_method_path_and_price() -> None:
    rule = parse_route("post /v1/chat=0.01")
    assert (rule.method, rule.path, rule.price_text, rule.unit) == ("POST", "/v1/chat", "0.01", PER_REQUEST)
    assert rule.label == "POST /v1/chat"


def test_a_route_without_method_matches_every_method_and_event_pricing_is_named() -> None:
    rule = parse_route("/events/*=0.001/event")
    assert (rule.method, rule.path, rule.unit) == ("*", "/events/*", PER_EVENT)
    assert parse_route("GET /x=0.5/request").unit == PER_REQUEST


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("GET /x", "METHOD PATH=PRICE"),
        ("GET /x=", "price"),
        ("GET /x=-1", "price"),
        ("GET /x=1e3", "price"),
        ("GET /x=0.1/minute", "price"),
        ("GET x=0.1", "must start with /"),
        ("GET /a*b=0.1", "may end in *"),
        ("GET /a b=0.1", "one space"),
        ("G3T /a=0.1", "HTTP method"),
        ("GET /stream=0/event", "above 0"),
    ],
)
def test_bad_routes_are_refused_with_a_reason(text: str, words: str) -> None:
    with pytest.raises(ValueError, match=words.replace("*", r"\*")):
        parse_route(text)


def test_the_most_specific_rule_wins() -> None:
    table = RouteTable.of(
        parse_route(t)
        for t in ("*=0.5", "/v1/*=0.02", "POST /v1/*=0.03", "/v1/chat/*=0.04", "GET /v1/chat/free=0")
    )
    def price(method: str, path: str) -> str | None:
        found = table.match(method, path)
        return None if found is None else found.price_text

    assert price("GET", "/v1/chat/free") == "0"  # exact beats any prefix
    assert price("POST", "/v1/chat/free") == "0.04"  # ...but only for its method
    assert price("POST", "/v1/chat/x") == "0.04"  # longer prefix beats a named method on a shorter one
    assert price("POST", "/v1/models") == "0.03"  # named method beats * on the same prefix
    assert price("GET", "/v1/models") == "0.02"
    assert price("GET", "/v1") == "0.5"  # /v1/* needs the slash
    assert price("DELETE", "/anything") == "0.5"


def test_no_match_is_none_and_a_prefix_is_a_plain_string_prefix() -> None:
    table = RouteTable.of([parse_route("GET /api/*=0.01"), parse_route("GET /exact=0.01")])
    assert table.match("GET", "/other") is None
    assert table.match("POST", "/api/x") is None
    assert table.match("GET", "/exact/more") is None
    assert table.match("GET", "/api/") is not None
    assert table.match("HEAD", "/exact") is not None  # a GET rule sells HEAD too


def test_a_rule_given_twice_is_an_error() -> None:
    with pytest.raises(ValueError, match="given twice"):
        RouteTable.of([parse_route("GET /a=0.1"), parse_route("get /a=0.2")])


def test_prices_become_base_units_of_the_mint() -> None:
    table = RouteTable.of([parse_route("GET /a=0.01"), parse_route("/b=0"), parse_route("/c=2.5/event")])
    assert [r.price for r in table.priced(6).rules] == [10_000, 0, 2_500_000]
    with pytest.raises(ValueError, match="decimal places"):
        RouteTable.of([parse_route("GET /a=0.0000001")]).priced(6)


def test_config_file_entries() -> None:
    rule = rule_from_table({"method": "post", "path": "/v1/*", "price": "0.01", "unit": "event"})
    assert (rule.method, rule.path, rule.unit) == ("POST", "/v1/*", PER_EVENT)
    assert rule_from_table({"path": "/x", "price": "0.1/event"}).unit == PER_EVENT
    assert rule_from_table({"path": "/x", "price": 1}).price_text == "1"
    for bad, words in (
        ({"path": "/x"}, "needs path"),
        ({"path": "/x", "price": 0.1}, "quoted"),
        ({"path": "/x", "price": "1", "colour": "red"}, "unknown key"),
        ({"path": "/x", "price": "1/request", "unit": "event"}, "per request"),
        ("GET /x=1", "must be a table"),
    ):
        with pytest.raises(ValueError, match=words):
            rule_from_table(bad)
