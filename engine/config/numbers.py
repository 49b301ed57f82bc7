"""Number rules shared by the profile and strategy schemas.

pydantic's lax mode reads `true` as 1 and `false` as 0, so `risk_per_trade_pct: true` would become a
1 % risk without a word. `refuse_booleans` refuses a boolean wherever the field expects a number (or a
tuple of numbers); numbers written as text, such as YAML 1.1's `1e-3`, are still read. Finite values
only: the models set `allow_inf_nan=False`.
"""

from __future__ import annotations

import typing
from decimal import Decimal

from pydantic import ValidationInfo
from pydantic_core import PydanticCustomError

_NUMBERS = (int, float, Decimal)


def refuse_booleans(model: type, value: object, info: ValidationInfo) -> object:
    """Body of a `field_validator("*", mode="before")`: raises for `true`/`false` given to a number."""
    if info.field_name is None:
        return value
    annotation = model.model_fields[info.field_name].annotation  # type: ignore[attr-defined]
    if isinstance(value, bool) and annotation in _NUMBERS:
        raise PydanticCustomError("number_type", "expected a number, not a boolean (got {value})",
                                  {"value": str(value).lower()})
    args = typing.get_args(annotation)
    if isinstance(value, (list, tuple)) and args and args[0] in _NUMBERS:
        for i, item in enumerate(value):
            if isinstance(item, bool):
                raise PydanticCustomError("number_type", "item {index}: expected a number, not a boolean",
                                          {"index": i})
    return value


def cross_field_error(key: str, message: str) -> PydanticCustomError:
    """An error of a model validator that belongs to one of the model's keys: `validation_errors`
    (engine/yaml_source.py) reads `ctx["key"]` and names that key and its line, not the section's."""
    return PydanticCustomError("cross_field", message, {"key": key})
