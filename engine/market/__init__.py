"""Market data: the candle format, file loaders, the synthetic market, live feeds and the trading universe.

Layout: `candles` (format, validation, segments, timeframes), `loaders` (file formats), `datadir`
(finding a symbol's files), `synthetic` (the seeded offline market), `feed` (CandleSource and its
implementations), `universe` (SymbolManager).
"""
