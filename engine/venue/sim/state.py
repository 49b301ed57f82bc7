"""Saved state of the simulator: the JSON shape of accounts, books and orders, and the atomic file write.

Everything is plain JSON: Decimals are their exact strings (`str(Decimal)` round-trips digits and
exponent), candle floats are their `repr` (the shortest text that round-trips the double), enums their
values, times integer ms. No pickle, no NaN/Infinity literals: any JSON reader can read it.

`MatchingEngine.state_dict` / `restore_state` (engine.py) assemble these pieces; `SimVenue.save` /
`load` (venue.py) wrap them in a file.
"""

from __future__ import annotations

import contextlib
import json
import os
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from engine.store.fsio import fsync_dir
from engine.venue.sim.book import SettleAccount, SimOrder
from engine.venue.types import Liquidity, OrderStatus, OrderType, Side

STATE_VERSION = 1
ENGINE_KIND = "sim-matching-engine"
VENUE_KIND = "sim-venue"
DEFAULT_KEPT_CLOSED_ORDERS = 1000
"""Closed orders kept by default in a saved state (the most recently updated; open ones are all kept)."""


class StateError(ValueError):
    """A saved simulator state that cannot be restored: unknown version, wrong kind, malformed field,
    or saved under settings that differ from the engine's."""


def check_header(state: Any, kind: str) -> None:
    """Refuse anything but a version-1 state of `kind`, with the reason."""
    if not isinstance(state, dict):
        raise StateError(f"a saved {kind} state must be a JSON object, not {type(state).__name__}")
    version = state.get("version")
    if version != STATE_VERSION:
        raise StateError(
            f"unsupported {kind} state version {version!r}: this build reads version {STATE_VERSION} only"
        )
    if state.get("kind") != kind:
        raise StateError(f"not a {kind} state (kind {state.get('kind')!r})")


# ---- scalars -----------------------------------------------------------------------------------------


def enc_dec(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def dec(value: Any, field: str) -> Decimal:
    if not isinstance(value, str):
        raise StateError(f"{field}: expected a decimal string, got {value!r}")
    try:
        out = Decimal(value)
    except InvalidOperation:
        raise StateError(f"{field}: not a decimal: {value!r}") from None
    if not out.is_finite():
        raise StateError(f"{field}: not a finite decimal: {value!r}")
    return out


def opt_dec(value: Any, field: str) -> Decimal | None:
    return None if value is None else dec(value, field)


def enc_float(value: float | None) -> str | None:
    return None if value is None else repr(float(value))


def opt_float(value: Any, field: str) -> float | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise StateError(f"{field}: expected a float as text, got {value!r}")
    try:
        return float(value)
    except ValueError:
        raise StateError(f"{field}: not a float: {value!r}") from None


def integer(value: Any, field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise StateError(f"{field}: expected an integer, got {value!r}")
    return value


def opt_int(value: Any, field: str) -> int | None:
    return None if value is None else integer(value, field)


def text(value: Any, field: str) -> str:
    if not isinstance(value, str):
        raise StateError(f"{field}: expected a string, got {value!r}")
    return value


def get(record: Any, key: str, where: str) -> Any:
    if not isinstance(record, dict):
        raise StateError(f"{where}: expected an object, got {type(record).__name__}")
    if key not in record:
        raise StateError(f"{where}: missing {key!r}")
    return record[key]


# ---- records -----------------------------------------------------------------------------------------


def encode_account(account: SettleAccount) -> dict[str, Any]:
    return {
        "asset": account.asset,
        "initial": str(account.initial),
        "wallet": str(account.wallet),
        "used": str(account.used),
        "realized_pnl": str(account.realized_pnl),
        "fees": str(account.fees),
        "funding": str(account.funding),
    }


def decode_account(record: Any) -> SettleAccount:
    asset = text(get(record, "asset", "account"), "account.asset")
    where = f"account {asset}"
    account = SettleAccount(asset, dec(get(record, "initial", where), f"{where}.initial"))
    for name in ("wallet", "used", "realized_pnl", "fees", "funding"):
        setattr(account, name, dec(get(record, name, where), f"{where}.{name}"))
    return account


def encode_order(order: SimOrder) -> dict[str, Any]:
    return {
        "client_id": order.client_id,
        "venue_id": order.venue_id,
        "symbol": order.symbol,
        "side": order.side.value,
        "type": order.type.value,
        "qty": str(order.qty),
        "trigger": enc_dec(order.trigger),
        "reduce_only": order.reduce_only,
        "status": order.status.value,
        "filled": str(order.filled),
        "average_price": enc_dec(order.average_price),
        "fee": str(order.fee),
        "created_ms": order.created_ms,
        "updated_ms": order.updated_ms,
        "triggered_ms": order.triggered_ms,
        # limit orders; absent from states saved before they existed (decoded as None/False/None)
        "price": enc_dec(order.price),
        "post_only": order.post_only,
        "liquidity": None if order.liquidity is None else order.liquidity.value,
    }


def decode_order(record: Any) -> SimOrder:
    client_id = text(get(record, "client_id", "order"), "order.client_id")
    where = f"order {client_id}"
    try:
        side = Side(get(record, "side", where))
        type_ = OrderType(get(record, "type", where))
        status = OrderStatus(get(record, "status", where))
        liquidity_value = record.get("liquidity")
        liquidity = None if liquidity_value is None else Liquidity(liquidity_value)
    except ValueError as exc:
        raise StateError(f"{where}: {exc}") from None
    reduce_only = get(record, "reduce_only", where)
    if not isinstance(reduce_only, bool):
        raise StateError(f"{where}.reduce_only: expected a boolean, got {reduce_only!r}")
    trigger = opt_dec(get(record, "trigger", where), f"{where}.trigger")
    if type_.is_conditional and trigger is None:
        raise StateError(f"{where}: a {type_} order needs a trigger price")
    price = opt_dec(record.get("price"), f"{where}.price")
    if type_ is OrderType.LIMIT and price is None:
        raise StateError(f"{where}: a limit order needs a price")
    post_only = record.get("post_only", False)
    if not isinstance(post_only, bool):
        raise StateError(f"{where}.post_only: expected a boolean, got {post_only!r}")
    order = SimOrder(
        client_id,
        text(get(record, "venue_id", where), f"{where}.venue_id"),
        text(get(record, "symbol", where), f"{where}.symbol"),
        side,
        type_,
        dec(get(record, "qty", where), f"{where}.qty"),
        trigger,
        reduce_only,
        integer(get(record, "created_ms", where), f"{where}.created_ms"),
        price=price,
        post_only=post_only,
    )  # derives the hot-path trigger_f and falling from trigger (or price), type and side
    order.liquidity = liquidity
    order.status = status
    order.filled = dec(get(record, "filled", where), f"{where}.filled")
    order.average_price = opt_dec(get(record, "average_price", where), f"{where}.average_price")
    order.fee = dec(get(record, "fee", where), f"{where}.fee")
    order.updated_ms = integer(get(record, "updated_ms", where), f"{where}.updated_ms")
    order.triggered_ms = opt_int(get(record, "triggered_ms", where), f"{where}.triggered_ms")
    return order


def order_recency(order: SimOrder) -> tuple[int, int]:
    """Sort key: last update, then placement (venue ids are the engine's increasing counter)."""
    try:
        placed = int(order.venue_id)
    except ValueError:
        placed = 0
    return order.updated_ms, placed


# ---- files -------------------------------------------------------------------------------------------


def temp_path(path: Path) -> Path:
    """Where `write_json_atomic` stages `path` (one writer per state file is assumed)."""
    return path.with_name(path.name + ".tmp")


def write_json_atomic(path: Path, payload: dict[str, Any]) -> None:
    """Replace `path` with `payload` as JSON, all or nothing: write `<name>.tmp` beside it, fsync it,
    os.replace it over `path`, fsync the directory. A crash leaves either the old file or the new one
    (plus, at worst, a stale .tmp that readers ignore and the next write overwrites)."""
    path = Path(path)
    data = json.dumps(payload, separators=(",", ":"), allow_nan=False).encode("utf-8")
    tmp = temp_path(path)
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    fsync_dir(path.parent)


def read_json(path: Path) -> Any:
    """The JSON document at `path` (never its .tmp). Raises FileNotFoundError, or StateError when the
    file is not JSON."""
    path = Path(path)
    with open(path, "rb") as fh:
        data = fh.read()
    try:
        return json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise StateError(f"{path}: not a saved simulator state (invalid JSON: {exc})") from None
