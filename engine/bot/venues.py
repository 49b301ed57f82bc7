"""The venues a profile asks for, built from its settings: the simulated venue (funded from the
profile), the paper venue that keeps its state in the state folder, and the Binance venue.

The venues themselves read no profile; this is where a profile becomes their arguments.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.config.loading import LoadedProfile
from engine.config.profile import Profile
from engine.errors import UserError
from engine.venue.leverage import Brackets
from engine.venue.markets import Market
from engine.venue.sim.fees import FeeSchedule
from engine.venue.sim.persistent import PersistentSimVenue, open_persistent

if TYPE_CHECKING:
    from engine.venue.binance import BinanceVenue
    from engine.venue.binance.client import Mode

VENUE_FILE = "venue.json"


def funded_balances(profile: Profile, markets: dict[str, Market]) -> dict[str, Decimal]:
    """Every margin asset the bot may trade in starts with the profile's balance."""
    settles = dict.fromkeys([*profile.venue.quote_assets, *(m.settle for m in markets.values())])
    return {asset: Decimal(profile.venue.starting_balance) for asset in settles}


def fee_schedules(profile: Profile) -> dict[str, FeeSchedule]:
    """The profile's fee tier per settle asset, as the simulator's fractions (0.04 % → 0.0004)."""
    return {asset: FeeSchedule(maker=Decimal(str(tier.maker_pct)) / 100, taker=Decimal(str(tier.taker_pct)) / 100)
            for asset, tier in profile.venue.fees.items()}


def sim_engine(markets: dict[str, Market], balances: dict[str, Decimal], profile: Profile,  # noqa: ANN201
               **options: Any):
    """A matching engine with the profile's slippage, fee tier and leverage: market-aware slippage
    unless the profile pins `venue.slippage_bps`. A paper account keeps the fees and slippage it was
    opened with (they are saved in venue.json with the balance). `options` go to MatchingEngine."""
    from engine.venue.sim.engine import MatchingEngine

    return MatchingEngine(markets, balances=balances, fees=fee_schedules(profile),
                          default_leverage=profile.orders.leverage, **slippage_options(profile), **options)


def slippage_options(profile: Profile) -> dict[str, Any]:
    """The profile's slippage as MatchingEngine arguments: `venue.slippage_bps` pins a flat figure;
    without it the market-aware model (tick size, order size against the candle's volume)."""
    pinned = profile.venue.slippage_bps
    if pinned is None:
        return {"slippage_model": "market"}
    return {"slippage_model": "flat", "slippage_bps": str(pinned)}


def paper_venue(loaded: LoadedProfile, markets: dict[str, Market], state_dir: Path,
                brackets: Mapping[str, Brackets] | None = None) -> PersistentSimVenue:
    """The paper account saved in `state_dir` (resumed as it was), else a new one funded from the profile.
    `brackets`: the markets' leverage brackets (a data folder's snapshot, as backtests use), else the
    simulator's default tier."""
    profile = loaded.profile

    def fresh() -> PersistentSimVenue:
        balances = funded_balances(profile, {})  # the profile's quote assets: all paper trades in
        return PersistentSimVenue(sim_engine(markets, balances, profile, brackets=brackets),
                                  timeframe=profile.venue.timeframe)

    return open_persistent(state_dir / VENUE_FILE, markets, fresh, existed=_journaled(state_dir),
                           brackets=brackets)


def _journaled(state_dir: Path) -> str | None:
    """Why the paper account must exist: the folder's journal has records (they were made against it)."""
    from engine.positions.book import JOURNAL_FILE
    from engine.store.fsio import read_tail

    journal = state_dir / JOURNAL_FILE
    return f"{journal} has records made against it" if read_tail(journal, 4096).strip(b"\0\n ") else None


def binance_venue(
    profile: Profile,
    *,
    mode: Mode | None = None,
    base_url: str | None = None,
    env_file: Path | None = Path(".env"),
    environ: dict[str, str] | None = None,
    **options: Any,
) -> BinanceVenue:
    """The venue a profile names: `mode` defaults to the profile's (testnet or live), the keys come
    from the variables `venue.api_key_env` / `venue.api_secret_env` (environment, else `env_file`);
    `options` go to `BinanceVenue` (its `settings`). The venue reads no profile: this is where one
    becomes its arguments. Raises UserError for a paper profile without `mode`, missing keys, or
    offline refusal."""
    from engine.venue.binance import BinanceVenue, load_credentials
    from engine.venue.binance.client import check_allowed

    chosen = mode or profile.mode
    if chosen not in ("testnet", "live"):
        raise UserError(
            f"profile {profile.name!r} is in {profile.mode!r} mode; the Binance venue needs testnet or live"
        )
    check_allowed(chosen, base_url)  # before touching any secret
    credentials = load_credentials(
        profile.venue.api_key_env, profile.venue.api_secret_env, env_file=env_file, environ=environ
    )
    return BinanceVenue(credentials, mode=chosen, base_url=base_url, **options)
