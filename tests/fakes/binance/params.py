"""Reading request parameters the way Binance validates them (mandatory, booleans, decimals, ints)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation

from tests.fakes.binance.errors import bad_request, illegal_value, mandatory

_DECIMAL = re.compile(r"^-?[0-9]{1,20}(\.[0-9]{1,20})?$")


class Params:
    """The parameters of one request (query and form body together), as strings."""

    def __init__(self, values: Mapping[str, str]) -> None:
        self.values = dict(values)

    def __contains__(self, name: str) -> bool:
        return bool(self.values.get(name, ""))

    def get(self, name: str, default: str | None = None) -> str | None:
        value = self.values.get(name)
        return default if value is None or value == "" else value

    def required(self, name: str) -> str:
        value = self.get(name)
        if value is None:
            raise mandatory(name)
        return value

    def boolean(self, name: str, default: bool = False) -> bool:
        value = self.get(name)
        if value is None:
            return default
        lowered = value.lower()
        if lowered not in ("true", "false"):
            raise bad_request(-1130, f"Data sent for parameter '{name}' is not valid.")
        return lowered == "true"

    def decimal(self, name: str) -> Decimal | None:
        value = self.get(name)
        if value is None:
            return None
        if not _DECIMAL.match(value):
            raise illegal_value(name)
        try:
            return Decimal(value)
        except InvalidOperation:
            raise illegal_value(name) from None

    def integer(self, name: str, default: int | None = None) -> int | None:
        value = self.get(name)
        if value is None:
            return default
        try:
            return int(value)
        except ValueError:
            raise bad_request(-1100, f"Illegal characters found in parameter '{name}'.") from None

    def limit(self, default: int, maximum: int) -> int:
        """`limit` within 1..maximum, else -1130 (Binance's "Invalid data sent for a parameter")."""
        limit = self.integer("limit", default)
        assert limit is not None
        if not 1 <= limit <= maximum:
            raise bad_request(-1130, "Data sent for parameter 'limit' is not valid.")
        return limit
