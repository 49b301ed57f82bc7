"""The `Venue` interface on Binance USD-M futures through ccxt (`ccxt.async_support.binanceusdm`):
testnet (Binance demo trading), live, or any fapi-compatible base URL (a local fake in tests).

- `credentials`: API key and secret from the environment or `.env`, never printed;
- `client`: the ccxt exchange, configured for a fapi-only account (reference §1–§2), offline guard;
- `errors`: ccxt exceptions and Binance codes -> `engine.venue.errors` kinds;
- `retry`: what is retried (reads) and what never is (orders);
- `convert`: Binance payloads -> engine records (exact decimals from the raw strings);
- `cache`: TTL caches for markets, tickers and candles;
- `settings`: `BinanceSettings` (timeouts, throttle, retries, caches);
- `orders`: `BinanceOrders`, the order half of `BinanceVenue` (place, cancel, fetch, triggered fills);
- `venue`: `BinanceVenue`, plus `AccountModes` and `HealthReport`.
"""

from engine.venue.binance.client import OfflineRefused
from engine.venue.binance.credentials import Credentials, load_credentials
from engine.venue.binance.settings import BinanceSettings
from engine.venue.binance.venue import AccountModes, BinanceVenue, HealthReport

__all__ = [
    "AccountModes",
    "BinanceSettings",
    "BinanceVenue",
    "Credentials",
    "HealthReport",
    "OfflineRefused",
    "load_credentials",
]
