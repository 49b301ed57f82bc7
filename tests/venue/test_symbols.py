"""Symbol spellings: one table, every direction, and clear refusals."""

from __future__ import annotations

import pytest

from engine.venue.symbols import parse_symbol, settle_asset, to_pair, to_unified, to_venue_id

SPELLINGS = [
    # (any spelling, unified, venue id, pair)
    ("BTC/USDC:USDC", "BTC/USDC:USDC", "BTCUSDC", "BTC/USDC"),
    ("BTCUSDC", "BTC/USDC:USDC", "BTCUSDC", "BTC/USDC"),
    ("BTC/USDC", "BTC/USDC:USDC", "BTCUSDC", "BTC/USDC"),
    ("ETHUSDT", "ETH/USDT:USDT", "ETHUSDT", "ETH/USDT"),
    ("1000PEPE/USDC:USDC", "1000PEPE/USDC:USDC", "1000PEPEUSDC", "1000PEPE/USDC"),
    ("1000PEPEUSDC", "1000PEPE/USDC:USDC", "1000PEPEUSDC", "1000PEPE/USDC"),
    ("1INCHUSDT", "1INCH/USDT:USDT", "1INCHUSDT", "1INCH/USDT"),
    ("USDCUSDT", "USDC/USDT:USDT", "USDCUSDT", "USDC/USDT"),  # a quote asset as base
    (" btc/usdc:usdc ", "BTC/USDC:USDC", "BTCUSDC", "BTC/USDC"),  # people type lower case
]


@pytest.mark.parametrize(("spelling", "unified", "venue_id", "pair"), SPELLINGS)
def test_every_spelling_converts_to_every_other(
    spelling: str, unified: str, venue_id: str, pair: str
) -> None:
    assert to_unified(spelling) == unified
    assert to_venue_id(spelling) == venue_id
    assert to_pair(spelling) == pair
    # and back: each output spelling parses to the same thing
    for out in (unified, venue_id, pair):
        assert to_unified(out) == unified


def test_settle_asset_is_the_quote() -> None:
    assert settle_asset("BTCUSDC") == "USDC"
    assert settle_asset("ETH/USDT:USDT") == "USDT"
    assert parse_symbol("1000PEPEUSDC").base == "1000PEPE"


NONSENSE = [
    ("", "empty"),
    ("   ", "empty"),
    ("BTC", "known quote"),
    ("USDC", "known quote"),  # nothing left for the base
    ("BTCEUR", "known quote"),
    ("BTC/EUR", "quote asset EUR"),
    ("BTC/USD:BTC", "settle asset"),  # inverse contract
    ("BTC/USDT:USDC", "settle asset"),
    ("BTC/USDT:USDT-241227", "dated futures"),
    ("BTCUSDC:USDC", "BASE/QUOTE:SETTLE"),
    ("BTC-PERP/USDT", "letters and digits"),
    ("/USDT", "base asset"),
    ("BTC//USDT", "quote asset /USDT"),
]


@pytest.mark.parametrize(("symbol", "reason"), NONSENSE)
def test_nonsense_is_refused_with_a_reason(symbol: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        to_unified(symbol)


def test_other_quote_assets_can_be_allowed_explicitly() -> None:
    assert to_unified("BTCFDUSD", quotes=("USDT", "FDUSD")) == "BTC/FDUSD:FDUSD"
    with pytest.raises(ValueError):
        to_unified("BTCFDUSD")
