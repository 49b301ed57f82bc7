"""Symbol spellings, converted in this one place.

Three spellings name the same USD-M perpetual:
- unified (ccxt, used everywhere inside the engine): `BTC/USDC:USDC`
- venue id (Binance REST, exchangeInfo `symbol`, kline file names): `BTCUSDC`
- pair (what people type): `BTC/USDC`

Only linear perpetuals settled in their quote asset are meant, and only the quote assets in
`KNOWN_QUOTES`; anything else is refused with a ValueError that says why.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

KNOWN_QUOTES: tuple[str, ...] = ("USDC", "USDT")

# Binance base assets are upper-case letters and digits (`1000PEPE`, `1INCH`).
_BASE = re.compile(r"^[A-Z0-9]{1,20}$")


@dataclass(frozen=True, slots=True)
class SymbolParts:
    base: str
    quote: str

    @property
    def unified(self) -> str:
        return f"{self.base}/{self.quote}:{self.quote}"

    @property
    def venue_id(self) -> str:
        return f"{self.base}{self.quote}"

    @property
    def pair(self) -> str:
        return f"{self.base}/{self.quote}"


def parse_symbol(symbol: str, quotes: tuple[str, ...] = KNOWN_QUOTES) -> SymbolParts:
    """Split any of the three spellings into base and quote. Case-insensitive, surrounding spaces ignored.

    Raises ValueError for an empty string, a quote asset not in `quotes`, a settle asset different from
    the quote (inverse or cross-settled contracts), dated-futures suffixes, or stray characters."""
    return _parse(symbol, quotes)


@lru_cache(maxsize=4096)
def _parse(symbol: str, quotes: tuple[str, ...]) -> SymbolParts:
    if not isinstance(symbol, str) or not symbol.strip():
        raise ValueError(f"empty symbol {symbol!r}")
    text = symbol.strip().upper()
    if ":" in text:
        pair, _, settle = text.partition(":")
        if "/" not in pair:
            raise ValueError(f"symbol {symbol!r}: expected BASE/QUOTE:SETTLE, e.g. BTC/USDC:USDC")
        base, _, quote = pair.partition("/")
        if "-" in settle:
            raise ValueError(f"symbol {symbol!r}: dated futures are not supported, only perpetuals")
        if settle != quote:
            raise ValueError(
                f"symbol {symbol!r}: settle asset {settle} differs from quote {quote}; "
                "only linear perpetuals settled in their quote are supported"
            )
    elif "/" in text:
        base, _, quote = text.partition("/")
    else:
        base, quote = _split_venue_id(symbol, text, quotes)
    if quote not in quotes:
        raise ValueError(
            f"symbol {symbol!r}: quote asset {quote or '(none)'} is not one of {', '.join(quotes)}"
        )
    if not _BASE.match(base):
        raise ValueError(f"symbol {symbol!r}: base asset {base or '(none)'} is not letters and digits")
    return SymbolParts(base=base, quote=quote)


def _split_venue_id(original: str, text: str, quotes: tuple[str, ...]) -> tuple[str, str]:
    # Longest quote first so that a future quote like "FDUSD" is not mistaken for "USD" + ...
    for quote in sorted(quotes, key=len, reverse=True):
        if text.endswith(quote) and len(text) > len(quote):
            return text[: -len(quote)], quote
    raise ValueError(f"symbol {original!r}: does not end in a known quote asset ({', '.join(quotes)})")


def to_unified(symbol: str, quotes: tuple[str, ...] = KNOWN_QUOTES) -> str:
    """`BTCUSDC` / `BTC/USDC` / `btc/usdc:usdc` -> `BTC/USDC:USDC`. Raises ValueError (see parse_symbol)."""
    return _parse(symbol, quotes).unified


def to_venue_id(symbol: str, quotes: tuple[str, ...] = KNOWN_QUOTES) -> str:
    """Any spelling -> Binance id `BTCUSDC`. Raises ValueError (see parse_symbol)."""
    return _parse(symbol, quotes).venue_id


def to_pair(symbol: str, quotes: tuple[str, ...] = KNOWN_QUOTES) -> str:
    """Any spelling -> `BTC/USDC`. Raises ValueError (see parse_symbol)."""
    return _parse(symbol, quotes).pair


def settle_asset(symbol: str, quotes: tuple[str, ...] = KNOWN_QUOTES) -> str:
    """The margin/settle asset of a linear perpetual (= its quote). Raises ValueError (see parse_symbol)."""
    return _parse(symbol, quotes).quote
