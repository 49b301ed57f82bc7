"""The engine's own venue errors. Every venue (simulated, paper, Binance through ccxt) raises these and
nothing else, so the executor handles one set of kinds.

Rejections carry Binance's code and message (USD-M futures error table). What the caller should do:
- `RequestRejected` and subclasses: the venue refused; nothing happened. Fix the request, do not retry as is.
- `FilterRejected` (a kind of `OrderRejected`): the order broke one of the market's filters as the venue
  knows them now, which may not be what the caller last read: re-read the markets before retrying.
- `StatusUnknown`: 5xx or timeout. The order may exist. Look it up by client id before anything else.
- `RateLimited`: back off `retry_after` seconds (None when the venue did not say).
- `VenueUnavailable`: could not reach the venue, or it is closed; nothing was sent.
"""

from __future__ import annotations

from decimal import Decimal


class VenueError(Exception):
    """Base of every error a venue raises."""


class RequestRejected(VenueError):
    """The venue answered with a Binance error code: the request was refused and had no effect."""

    code: int = 0
    default_msg: str = ""

    def __init__(self, msg: str | None = None, *, code: int | None = None) -> None:
        self.code = self.code if code is None else code
        self.msg = self.default_msg if msg is None else msg
        super().__init__(f"{self.code} {self.msg}")


class OrderRejected(RequestRejected):
    """An order was refused (filters, margin, reduce-only, ...)."""


class FilterRejected(OrderRejected):
    """The order broke a filter of its market (LOT_SIZE, MARKET_LOT_SIZE, PRICE_FILTER, MIN_NOTIONAL):
    Binance may have changed the filters since they were read."""


class InvalidSymbol(RequestRejected):
    code, default_msg = -1121, "Invalid symbol."


class PrecisionTooHigh(FilterRejected):
    code, default_msg = -1111, "Precision is over the maximum defined for this asset."


class FilterFailure(FilterRejected):
    """-1013 "Filter failure: LOT_SIZE" (or PRICE_FILTER, MIN_NOTIONAL, ...): the filter is named in the text."""

    code, default_msg = -1013, "Filter failure: LOT_SIZE"


class OrderNotFound(OrderRejected):
    """-2013 when fetching; Binance answers -2011 "Unknown order sent." when cancelling."""

    code, default_msg = -2013, "Order does not exist."


class MarginInsufficient(OrderRejected):
    code, default_msg = -2019, "Margin is insufficient."


class WouldImmediatelyTrigger(OrderRejected):
    code, default_msg = -2021, "Order would immediately trigger."


class ReduceOnlyRejected(OrderRejected):
    code, default_msg = -2022, "ReduceOnly Order is rejected."


class MaxPositionExceeded(OrderRejected):
    code, default_msg = -2027, "Exceeded the maximum allowable position at current leverage."


class QuantityTooSmall(FilterRejected):
    code, default_msg = -4004, "Quantity less than min quantity."


class QuantityTooLarge(FilterRejected):
    code, default_msg = -4005, "Quantity greater than max quantity."


class QuantityNotPositive(FilterRejected):
    code, default_msg = -4003, "Quantity less than zero."


class StopPriceTooHigh(FilterRejected):
    code, default_msg = -4007, "Stop price greater than max price."


class PriceTooLow(FilterRejected):
    code, default_msg = -4013, "Price less than min price."


class PriceNotOnTick(FilterRejected):
    code, default_msg = -4014, "Price not increased by tick size."


class InvalidClientOrderId(OrderRejected):
    code, default_msg = -4015, "Client order id is not valid."


class QuantityNotOnStep(FilterRejected):
    code, default_msg = -4023, "Qty not increased by step size."


class DuplicateClientOrderId(OrderRejected):
    code, default_msg = -4116, "ClientOrderId is duplicated."


class PostOnlyRejected(OrderRejected):
    """A post-only (GTX) limit order that would have crossed the book and filled as a taker: Binance refuses
    it whole rather than take liquidity."""

    code = -5022
    default_msg = ("Due to the order could not be executed as maker, the Post Only order will be rejected. "
                   "The order will not be recorded in the order history")


class SymbolNotTrading(OrderRejected):
    code, default_msg = -4140, "Invalid symbol status for opening position"


class MinNotional(FilterRejected):
    code = -4164

    def __init__(
        self, msg: str | None = None, *, code: int | None = None, min_notional: Decimal | None = None
    ) -> None:
        if msg is None:
            msg = min_notional_message(min_notional if min_notional is not None else Decimal(5))
        super().__init__(msg, code=code)


class InvalidLeverage(RequestRejected):
    code, default_msg = -4028, "Invalid leverage"


class LeverageReductionRejected(RequestRejected):
    code, default_msg = (
        -4161,
        "Leverage reduction is not supported in Isolated Margin Mode with open positions",
    )


class MarginModeUnchanged(RequestRejected):
    code, default_msg = -4046, "No need to change margin type."


class MarginModeLockedByOrders(RequestRejected):
    code, default_msg = -4047, "Margin type cannot be changed if there exists open orders."


class MarginModeLockedByPosition(RequestRejected):
    code, default_msg = -4048, "Margin type cannot be changed if there exists position."


class NotSupported(VenueError):
    """The venue cannot do this at all (e.g. cross margin in the simulator)."""


class StatusUnknown(VenueError):
    """5xx or timeout: the request may or may not have taken effect. Reconcile by client order id."""


class RateLimited(VenueError):
    def __init__(self, msg: str = "rate limited", retry_after: float | None = None) -> None:
        self.retry_after = retry_after
        super().__init__(msg if retry_after is None else f"{msg} (retry after {retry_after}s)")


class VenueUnavailable(VenueError):
    """The venue could not be reached or is closed; the request was not sent."""


def min_notional_message(min_notional: Decimal) -> str:
    """Binance's -4164 text for a market's MIN_NOTIONAL, e.g. 100 for BTCUSDC."""
    amount = f"{min_notional.normalize():f}"
    return f"Order's notional must be no smaller than {amount} (unless you choose reduce only)."


_BY_CODE: dict[int, type[RequestRejected]] = {
    cls.code: cls
    for cls in (
        InvalidSymbol,
        PrecisionTooHigh,
        FilterFailure,
        OrderNotFound,
        MarginInsufficient,
        WouldImmediatelyTrigger,
        ReduceOnlyRejected,
        MaxPositionExceeded,
        QuantityTooSmall,
        QuantityTooLarge,
        QuantityNotPositive,
        StopPriceTooHigh,
        PriceTooLow,
        PriceNotOnTick,
        InvalidClientOrderId,
        QuantityNotOnStep,
        DuplicateClientOrderId,
        SymbolNotTrading,
        PostOnlyRejected,
        MinNotional,
        InvalidLeverage,
        LeverageReductionRejected,
        MarginModeUnchanged,
        MarginModeLockedByOrders,
        MarginModeLockedByPosition,
    )
}
_BY_CODE[-2011] = OrderNotFound  # "Unknown order sent." (cancel of an order Binance does not know)


def error_for_code(code: int, msg: str) -> RequestRejected:
    """The engine error for a Binance `{"code", "msg"}` rejection; unknown codes become a plain
    `OrderRejected` that still carries both."""
    cls = _BY_CODE.get(code, OrderRejected)
    return cls(msg, code=code)
