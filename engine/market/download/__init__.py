"""`python -m engine download`: Binance USD-M candles and funding rates into the local parquet store.

plan (what is missing, and from where) → archive / fapi (fetching, checksums) → run (the concurrent
pool, merging into `engine.market.store`) → progress (bars, plain lines, the summary table).
"""
