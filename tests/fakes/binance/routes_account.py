"""Signed account endpoints: account and balance, positions, leverage brackets, leverage, margin type,
position mode (hedge), multi-assets mode, symbol and account config, income."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from engine.venue.leverage import max_notional_for_leverage
from tests.fakes.binance import account, shapes
from tests.fakes.binance.errors import bad_request, mandatory
from tests.fakes.binance.params import Params

if TYPE_CHECKING:
    from tests.fakes.binance.fake import FakeBinance

SUCCESS = {"code": 200, "msg": "success"}
SEVEN_DAYS_MS = 7 * 86_400_000


def _asset_times(fake: FakeBinance) -> dict[str, int]:
    # A funded asset never shows updateTime 0 (ccxt would drop it): the start of the market stands in
    # until the first trade.
    return {a: max(fake.start_ms, fake.desk.last_update_ms(a)) for a in fake.assets}


def account_info(fake: FakeBinance, p: Params) -> Any:
    return account.account_json(fake.engine, fake.assets, fake.settings, _asset_times(fake), fake.market_time_ms)


def balances(fake: FakeBinance, p: Params) -> Any:
    times = _asset_times(fake)
    rows = []
    for asset in fake.assets:
        row = account.asset_row(fake.engine, asset, times[asset])
        rows.append({
            "accountAlias": "FakeAccount", "asset": asset, "balance": row["walletBalance"],
            "crossWalletBalance": row["crossWalletBalance"], "crossUnPnl": "0",
            "availableBalance": row["availableBalance"], "maxWithdrawAmount": row["maxWithdrawAmount"],
            "marginAvailable": True, "updateTime": times[asset],
        })
    return rows


def position_risk_v3(fake: FakeBinance, p: Params) -> Any:
    market = fake.optional_market(p)
    now = fake.market_time_ms
    return [
        account.position_row_v3(fake.engine.book(position.symbol), fake.settings, now)
        for position in fake.engine.positions()
        if market is None or position.symbol == market.symbol
    ]


def position_risk_v2(fake: FakeBinance, p: Params) -> Any:
    market = fake.optional_market(p)
    markets = [market] if market is not None else list(fake.markets.values())
    now = fake.market_time_ms
    return [account.position_row_v2(fake.engine.book(m.symbol), fake.settings, now) for m in markets]


def leverage_bracket(fake: FakeBinance, p: Params) -> Any:
    market = fake.optional_market(p)
    if market is not None:
        return account.leverage_bracket_json(fake.engine.book(market.symbol))
    return [account.leverage_bracket_json(fake.engine.book(m.symbol)) for m in fake.markets.values()]


def set_leverage(fake: FakeBinance, p: Params) -> Any:
    market = fake.market_param(p)
    leverage = p.integer("leverage")
    if leverage is None:
        raise mandatory("leverage")
    fake.engine.set_leverage(market.symbol, leverage)  # -4028 / -4161 / -2027 from the engine
    book = fake.engine.book(market.symbol)
    cap = max_notional_for_leverage(book.brackets, book.leverage)
    return {"leverage": book.leverage, "maxNotionalValue": shapes.plain(cap), "symbol": market.id}


def set_margin_type(fake: FakeBinance, p: Params) -> Any:
    market = fake.market_param(p)
    wanted = p.get("marginType")
    if wanted is None:
        raise mandatory("marginType")
    wanted = wanted.upper()
    if wanted not in ("ISOLATED", "CROSSED"):
        raise bad_request(-4044, "The margin type is not valid.")
    if wanted == fake.settings.margin_type(market):
        raise bad_request(-4046, "No need to change margin type.")
    book = fake.engine.book(market.symbol)
    if book.qty != 0:
        raise bad_request(-4048, "Margin type cannot be changed if there exists position.")
    if book.orders:
        raise bad_request(-4047, "Margin type cannot be changed if there exists open orders.")
    fake.settings.margin_types[market.id] = wanted
    return SUCCESS


def get_position_mode(fake: FakeBinance, p: Params) -> Any:
    return {"dualSidePosition": fake.settings.hedge_mode}


def set_position_mode(fake: FakeBinance, p: Params) -> Any:
    if "dualSidePosition" not in p:
        raise mandatory("dualSidePosition")
    wanted = p.boolean("dualSidePosition")
    if wanted == fake.settings.hedge_mode:
        raise bad_request(-4059, "No need to change position side.")
    if fake.engine.positions():
        raise bad_request(-4068, "Position side cannot be changed if there exists position.")
    if fake.desk.open_algos():
        raise bad_request(-4067, "Position side cannot be changed if there exists open orders.")
    fake.settings.hedge_mode = wanted
    return SUCCESS


def get_multi_assets(fake: FakeBinance, p: Params) -> Any:
    return {"multiAssetsMargin": fake.settings.multi_assets}


def set_multi_assets(fake: FakeBinance, p: Params) -> Any:
    if "multiAssetsMargin" not in p:
        raise mandatory("multiAssetsMargin")
    fake.settings.multi_assets = p.boolean("multiAssetsMargin")
    return SUCCESS


def symbol_config(fake: FakeBinance, p: Params) -> Any:
    market = fake.optional_market(p)
    markets = [market] if market is not None else list(fake.markets.values())
    return [account.symbol_config_json(fake.engine.book(m.symbol), fake.settings) for m in markets]


def account_config(fake: FakeBinance, p: Params) -> Any:
    return {"feeTier": 0, "canTrade": True, "canDeposit": True, "canWithdraw": True,
            "dualSidePosition": fake.settings.hedge_mode, "updateTime": 0,
            "multiAssetsMargin": fake.settings.multi_assets, "tradeGroupId": -1}


def income(fake: FakeBinance, p: Params) -> Any:
    market = fake.optional_market(p)
    kind = p.get("incomeType")
    start, end = time_window(p, fake.market_time_ms)
    limit = p.limit(100, 1000)
    rows = [
        i for i in fake.desk.income
        if (market is None or i.market.id == market.id) and (kind is None or i.income_type == kind)
        and start <= i.time_ms <= end
    ]
    return [shapes.income_json(i) for i in rows[:limit]]


def time_window(p: Params, now_ms: int) -> tuple[int, int]:
    """startTime/endTime as Binance reads them for history: at most 7 days; none given -> the last 7 days,
    one given -> 7 days from (or up to) it. Raises -1127 for a longer window."""
    start, end = p.integer("startTime"), p.integer("endTime")
    if start is not None and end is not None:
        if end - start > SEVEN_DAYS_MS:
            raise bad_request(-1127, "More than 168 hours between startTime and endTime.")
        return start, end
    if start is not None:
        return start, start + SEVEN_DAYS_MS
    if end is not None:
        return end - SEVEN_DAYS_MS, end
    return now_ms - SEVEN_DAYS_MS, now_ms
