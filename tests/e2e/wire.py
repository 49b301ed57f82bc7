"""A bot assembled as `run` assembles it in testnet mode (`open_session` on a tmp profile) trading the fake
Binance on the wire (BinanceVenue → ccxt → HTTP), driven by hand with an explicit `now`, and restartable
on its state folder with a new venue that reads the markets again: what a process restart does."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from engine.bot.session import Session, open_session
from engine.config.loading import LoadedProfile, load_profile
from engine.positions.model import Position
from engine.strategy.signal import Side, Signal
from engine.trading.reconcile import Reconciler, ReconcileReport
from engine.venue.binance import BinanceSettings, BinanceVenue, Credentials
from engine.venue.binance.retry import RetryPolicy
from tests.chaos.invariants import venue_violations
from tests.e2e.support import deep_merge, make_profile
from tests.fakes.binance import FakeBinance

ETH, BTC = "ETH/USDC:USDC", "BTC/USDC:USDC"
NOW = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)
ORDER, ALGO, INFO = "/fapi/v1/order", "/fapi/v1/algoOrder", "/fapi/v1/exchangeInfo"


async def _no_sleep(_: float) -> None:
    return None


class WireBot:
    def __init__(self, fake: FakeBinance, root: Path, **sections: Any) -> None:
        sections = deep_merge({"universe": {"max_symbols": 2, "whitelist": ["ETHUSDC", "BTCUSDC"]},
                               "risk": {"max_hold": "4h"}}, sections)
        self.fake = fake
        self.loaded: LoadedProfile = load_profile(make_profile(root, "wire", mode="testnet", **sections))
        self.venue: BinanceVenue | None = None
        self.session: Session | None = None

    async def start(self) -> Session:
        """A new venue (markets read from exchangeInfo) and the session on the state folder; nothing resumed."""
        self.venue = BinanceVenue(
            Credentials(self.fake.api_key, self.fake.secret), mode="testnet", base_url=self.fake.base_url,
            settings=BinanceSettings(enable_rate_limit=False, timeout_ms=2_000,
                                     retry=RetryPolicy(attempts=2, base_delay_s=0.01, max_wait_s=1.0)),
            sleep=_no_sleep)
        self.session = open_session(self.loaded, await self.venue.markets(), venue=self.venue)
        return self.session

    async def stop(self) -> None:
        """The process ends (nothing is sent: what a crash or a kill leaves)."""
        if self.session is not None:
            self.session.book.close()
            self.session = None
        if self.venue is not None:
            await self.venue.close()
            self.venue = None

    async def restart(self, now: datetime) -> Session:
        """Stop, start again on the same state folder, resume (the start-up protocol's first half)."""
        await self.stop()
        session = await self.start()
        await session.engine.resume(now)
        return session

    @property
    def engine(self):  # noqa: ANN201
        assert self.session is not None
        return self.session.engine

    def live(self) -> list[Position]:
        assert self.session is not None
        return list(self.session.book.live.values())

    async def enter(self, symbol: str, now: datetime = NOW) -> Position | None:
        price = self.fake.price(self.fake.market(symbol))
        return await self.engine.on_signal(Signal(symbol, Side("long"), 0, float(price), 0.5, (), "wire test"), now)

    async def reconcile(self, now: datetime) -> ReconcileReport:
        return await Reconciler(self.engine).run(now)

    async def retry(self, position: Position, now: datetime) -> datetime:
        """Fire the position's emergency retry: its deadline passes."""
        assert position.deadline_at is not None
        later = max(now, position.deadline_at) + timedelta(milliseconds=1)
        await self.engine.on_timeouts(later)
        return later

    def violations(self) -> list[tuple[str, str]]:
        assert self.session is not None
        return venue_violations(self.fake, self.live(), f"{self.session.book.bot['order_prefix']}-")

    def held(self, symbol: str) -> Decimal:
        venue_id = self.fake.market(symbol).id
        return sum((Decimal(r["positionAmt"]) for r in self.fake.positions() if r["symbol"] == venue_id), Decimal(0))

    def resting(self, symbol: str) -> set[str]:
        """Client ids of the algo orders resting on `symbol`."""
        venue_id = self.fake.market(symbol).id
        return {a["clientAlgoId"] for a in self.fake.open_algo_orders() if a["symbol"] == venue_id}

    def sent(self, method: str, path: str, **params: str) -> list[Any]:
        """The requests the bot sent to `path` whose parameters include `params`."""
        return [r for r in self.fake.requests if r.method == method and r.path == path
                and all(r.params.get(k) == v for k, v in params.items())]
