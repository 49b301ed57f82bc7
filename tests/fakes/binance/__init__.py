"""A protocol-faithful fake of Binance USD-M futures (fapi) on 127.0.0.1: the real
`ccxt.async_support.binanceusdm` client trades against it over HTTP exactly as against Binance.

```python
from tests.fakes.binance import FakeBinance, Fault

fake = FakeBinance(symbols=["BTC/USDC:USDC"], data_dir=None, start="2025-03-01", speed=None)
base_url = await fake.start()            # "http://127.0.0.1:PORT"
fake.advance(candles=1)                  # manual clock: close the next candle (stops fire)
fake.set_price("BTC/USDC:USDC", 58000)   # walk the price there now
fake.inject(Fault.rate_limit(retry_after=3, path="/fapi/v1/order"))
fake.requests, fake.fired                # what clients sent, which faults acted
fake.open_algo_orders(), fake.positions()
await fake.stop()
```

Behind it is the project's matching engine (`engine.venue.sim.MatchingEngine`): real filters from the
exchangeInfo snapshot, Binance's error codes, reduce-only conditional orders, fees, isolated margin and
liquidation. Module map: `fake` (the account, clocks, inspection), `market` (clock, candle tapes, klines),
`orders` (orders / algo orders / trades over the engine), `account` and `shapes` (JSON bodies), `auth`
(HMAC and recvWindow), `faults`, `server` (routes, dispatch, headers), `routes_*` (handlers), `fixture`
(pytest fixtures) and `__main__` (command line).
"""

from tests.fakes.binance.fake import DEFAULT_SYMBOLS, FakeBinance
from tests.fakes.binance.faults import Fault, FiredFault
from tests.fakes.binance.server import RecordedRequest

__all__ = ["DEFAULT_SYMBOLS", "FakeBinance", "Fault", "FiredFault", "RecordedRequest"]
