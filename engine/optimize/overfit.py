"""How much to trust the in-sample best: the deflated Sharpe ratio and the stability of the chosen values.

Deflated Sharpe ratio (Bailey and López de Prado, 2014): the probability that the best trial's true
Sharpe is above zero, once the Sharpe expected of the best of N trials that are all noise is taken
out, and the returns' skew and fat tails are accounted for. Below 0.95 the in-sample best is not
distinguishable from luck among that many trials.
"""

from __future__ import annotations

import math
from statistics import NormalDist
from typing import Any

from engine.optimize.objectives import sharpe
from engine.optimize.space import Space

EULER_GAMMA = 0.5772156649015329
DSR_THRESHOLD = 0.95
_NORMAL = NormalDist()


def _moments(returns: list[float]) -> tuple[float, float]:
    """(skewness, kurtosis) — kurtosis not excess: 3 for normal returns."""
    n = len(returns)
    mean = sum(returns) / n
    var = sum((r - mean) ** 2 for r in returns) / n
    if var == 0:
        return 0.0, 3.0
    sd = math.sqrt(var)
    skew = sum(((r - mean) / sd) ** 3 for r in returns) / n
    kurt = sum(((r - mean) / sd) ** 4 for r in returns) / n
    return skew, kurt


def expected_max_sharpe(trial_sharpes: list[float]) -> float:
    """The Sharpe (per period) the best of these trials would reach if every one were noise."""
    n = len(trial_sharpes)
    if n < 2:
        return 0.0
    mean = sum(trial_sharpes) / n
    sd = math.sqrt(sum((s - mean) ** 2 for s in trial_sharpes) / (n - 1))
    return sd * ((1 - EULER_GAMMA) * _NORMAL.inv_cdf(1 - 1 / n) + EULER_GAMMA * _NORMAL.inv_cdf(1 - 1 / (n * math.e)))


def deflated_sharpe(best_returns: list[float], trial_sharpes: list[float]) -> float | None:
    """Probability (0–1) that the best trial's Sharpe beats the best of `len(trial_sharpes)` noise trials.
    Sharpes are per period (daily, not annualised). None with fewer than 3 periods or 2 trials."""
    t = len(best_returns)
    if t < 3 or len(trial_sharpes) < 2:
        return None
    sr = sharpe(best_returns, annualise=False)
    skew, kurt = _moments(best_returns)
    denominator = 1 - skew * sr + (kurt - 1) / 4 * sr * sr
    if denominator <= 0:
        return None
    z = (sr - expected_max_sharpe(trial_sharpes)) * math.sqrt(t - 1) / math.sqrt(denominator)
    return _NORMAL.cdf(z)


def stability(space: Space, chosen: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per parameter, how much the folds' chosen values agree: for a range, their spread as a share of
    the range (0 = every fold chose the same); for a choice, the share of folds that chose the most
    common value."""
    rows = []
    for param in space.params:
        picked = [values[param.key] for values in chosen if param.key in values]
        if not picked:
            continue
        if param.spec.choice is not None:
            common = max(set(map(repr, picked)), key=[repr(p) for p in picked].count)
            share = [repr(p) for p in picked].count(common) / len(picked)
            rows.append({"key": param.key, "values": picked, "spread": None, "agreement": share,
                         "stable": share > 0.5})
            continue
        low, high = param.spec.int_range or param.spec.float_range  # type: ignore[misc]
        spread = (max(picked) - min(picked)) / (high - low)
        rows.append({"key": param.key, "values": picked, "spread": spread, "agreement": None,
                     "stable": spread <= 0.25})
    return rows
