"""Exit reasons that more than one layer reads: the reason a closed position's exit is recorded under
(its closing order's role). Kept out of trading/ so that stats and report can read them without
depending on the trading they report on; imports nothing."""

STOP_LOSS_REASON = "sl"  # the exit reason of a position closed by its stop loss
