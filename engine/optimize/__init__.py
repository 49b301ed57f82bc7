"""`python -m engine optimize`: a walk-forward parameter search on Optuna whose every trial is the real
backtest. space (the YAML), apply (a trial's profile), objectives, walkforward (folds), search (one
study), trial + workers (where trials run: a local pool or Ray), shared_candles (loaded once, mapped by
every worker), overfit (deflated Sharpe, stability), runner (the whole study), outputs, charts,
report_text, progress."""
