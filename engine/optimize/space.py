"""The search space: a YAML file of profile keys (dotted) and the values each may take.

```yaml
params:
  strategy.ema_fast: {int: [5, 20]}
  orders.stop_loss_pct: {float: [0.5, 3.0], step: 0.1}
  orders.risk_per_trade_pct: {float: [0.1, 2.0], log: true}
  risk.max_hold: {choice: [10m, 30m, 1h]}
  strategy.atr_sl_mult: {float: [1.0, 3.0], when: {strategy.atr_scaled_exits: true}}
constraints: {min_trades: 30, max_drawdown_pct: 25, min_win_rate_pct: 55}   # optional
```

The format is kept as tools outside the project write it. It is checked like a profile (pydantic, then
file, line and key in every message). A `when:` names profile keys and the value each must have in the
trial's profile for the parameter to be searched; a key that is itself a parameter must come earlier in
the file (it is decided first).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self

from pydantic import BaseModel, ConfigDict, Field, StrictBool, model_validator
from pydantic_core import PydanticCustomError

from engine.errors import SpecError
from engine.yaml_source import Locator, load_yaml, validate_model


class Constraints(BaseModel):
    """Trials that break one are infeasible: the sampler steers away and `best` never picks them."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    min_trades: int | None = Field(None, ge=0)
    max_drawdown_pct: float | None = Field(None, gt=0, le=100)
    min_win_rate_pct: float | None = Field(None, ge=0, le=100)


class ParamSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False, populate_by_name=True)

    int_range: tuple[int, int] | None = Field(None, alias="int")
    float_range: tuple[float, float] | None = Field(None, alias="float")
    choice: tuple[Any, ...] | None = Field(None, min_length=1)
    step: float | None = Field(None, gt=0)
    log: StrictBool = False
    when: dict[str, Any] | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> Self:
        kinds = [k for k, v in (("int", self.int_range), ("float", self.float_range), ("choice", self.choice))
                 if v is not None]
        if len(kinds) != 1:
            raise PydanticCustomError("space", "give exactly one of int: [low, high], float: [low, high] or "
                                      "choice: [...] (got {got})", {"got": ", ".join(kinds) or "none"})
        bounds = self.int_range or self.float_range
        if bounds is not None and not bounds[0] < bounds[1]:
            raise PydanticCustomError("space", "low must be below high (got [{a}, {b}])",
                                      {"a": bounds[0], "b": bounds[1]})
        if self.choice is not None and (self.step is not None or self.log):
            raise PydanticCustomError("space", "step and log apply to int and float ranges, not to choice", {})
        if self.log and self.step is not None:
            raise PydanticCustomError("space", "log: true and step cannot be combined (Optuna refuses it)", {})
        if self.log and bounds is not None and bounds[0] <= 0:
            raise PydanticCustomError("space", "log: true needs a low bound above 0", {})
        if self.int_range is not None and self.step is not None and self.step != int(self.step):
            raise PydanticCustomError("space", "an int range takes a whole step (got {step})", {"step": self.step})
        return self


class SpaceFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    params: dict[str, ParamSpec] = Field(min_length=1)
    constraints: Constraints = Constraints()


@dataclass(frozen=True)
class Param:
    key: str  # dotted profile key, e.g. strategy.ema_fast (a list item: orders.take_profit.0.at_pct)
    spec: ParamSpec
    line: int | None

    def corners(self) -> list[Any]:
        """Values that probe the range: both ends (and every choice)."""
        if self.spec.choice is not None:
            return list(self.spec.choice)
        low, high = self.spec.int_range or self.spec.float_range  # type: ignore[misc]
        return [low, self.snap(high)]

    def snap(self, value: float) -> Any:
        """`value` on the grid the parameter draws from (Optuna's float steps are float sums)."""
        if self.spec.int_range is not None:
            return int(value)
        if self.spec.step is None:  # 6 significant digits: what the trial runs is what best.yaml says
            return float(f"{value:.6g}")
        low = self.spec.float_range[0]  # type: ignore[index]
        places = max(0, -math.floor(math.log10(self.spec.step)) + 2)
        return round(low + round((value - low) / self.spec.step) * self.spec.step, places)

    def suggest(self, trial: Any) -> Any:
        """Draw this parameter from an Optuna trial (the name is the dotted key)."""
        s = self.spec
        if s.choice is not None:
            if all(c is None or isinstance(c, (bool, int, float, str)) for c in s.choice):
                return trial.suggest_categorical(self.key, list(s.choice))
            # Optuna's choices are plain values; a list or mapping (confirmations: [rsi, macd]) is drawn
            # by its position, and the trial records the value itself (search.VALUES).
            return s.choice[trial.suggest_categorical(self.key, list(range(len(s.choice))))]
        if s.int_range is not None:
            return trial.suggest_int(self.key, s.int_range[0], s.int_range[1], step=int(s.step or 1), log=s.log)
        low, high = s.float_range  # type: ignore[misc]
        return self.snap(trial.suggest_float(self.key, low, high, step=s.step, log=s.log))


@dataclass(frozen=True)
class Space:
    path: Path
    params: tuple[Param, ...]
    constraints: Constraints
    locator: Locator

    def error(self, param: Param, problem: str) -> SpecError:
        return SpecError(self.path, param.line, f"params.{param.key}", problem)


def load_space(path: Path) -> Space:
    """Raises SpecError/SpecErrors (exit 2) naming the file, line and key of every problem."""
    data, locator = load_yaml(path)
    if not isinstance(data, dict):
        raise SpecError(path, locator.line(()), "", "a search space is a mapping with `params:` (and optionally "
                        "`constraints:`)")
    model = validate_model(SpaceFile, data, locator)
    params = tuple(Param(k, v, locator.line(("params", k))) for k, v in model.params.items())
    space = Space(path, params, model.constraints, locator)
    seen: set[str] = set()
    for param in params:
        if not param.key or any(not part for part in param.key.split(".")):
            raise space.error(param, "expected a dotted profile key such as strategy.ema_fast")
        for key in (param.spec.when or {}):
            if key in model.params and key not in seen:
                raise SpecError(path, locator.line(("params", param.key, "when")), f"params.{param.key}.when",
                                f"{key} is a parameter listed later in the file; list it before {param.key}")
        seen.add(param.key)
    return space
