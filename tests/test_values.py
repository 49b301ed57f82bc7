"""`engine.values.value`: a frozen slots dataclass whose faster __init__ must behave exactly as the one
dataclasses writes (parameters, defaults, keyword-only fields, __post_init__, inheritance, refusal to change)."""

from __future__ import annotations

import dataclasses
import inspect
import pickle
from decimal import Decimal
from typing import ClassVar

import pytest

from engine.values import value


@value
class Base:
    kind: ClassVar[str] = "base"


@value
class Order(Base):
    client_id: str
    qty: Decimal
    price: Decimal | None = None
    reduce_only: bool = False


@value
class Checked:
    low: int
    high: int

    def __post_init__(self) -> None:
        if self.low > self.high:
            raise ValueError("low above high")


@dataclasses.dataclass(frozen=True, slots=True)
class Reference:
    client_id: str
    qty: Decimal
    price: Decimal | None = None
    reduce_only: bool = False


@value
class KeywordOnly:
    a: int
    b: int = dataclasses.field(default=2, kw_only=True)


@value
class WithFactory:
    items: list[int] = dataclasses.field(default_factory=list)


def test_same_parameters_and_values_as_the_dataclass_init() -> None:
    assert str(inspect.signature(Order)) == str(inspect.signature(Reference))
    for args, kwargs in [(("c1", Decimal("1.5")), {}), (("c1", Decimal(2), Decimal(3)), {"reduce_only": True}),
                         ((), {"qty": Decimal(1), "client_id": "x"})]:
        ours, theirs = Order(*args, **kwargs), Reference(*args, **kwargs)
        assert dataclasses.astuple(ours) == dataclasses.astuple(theirs)
    assert repr(Order("c", Decimal(1))) == "Order(client_id='c', qty=Decimal('1'), price=None, reduce_only=False)"


def test_wrong_calls_fail_as_before() -> None:
    with pytest.raises(TypeError):
        Order("only the id")  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        Order("c", Decimal(1), nope=3)  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        KeywordOnly(1, 3)  # type: ignore[misc]
    assert KeywordOnly(1, b=3).b == 3 and KeywordOnly(1).b == 2


def test_frozen_hashable_equal_and_picklable() -> None:
    order = Order("c", Decimal(1))
    with pytest.raises(dataclasses.FrozenInstanceError):
        order.qty = Decimal(2)  # type: ignore[misc]
    assert order == Order("c", Decimal(1)) and hash(order) == hash(Order("c", Decimal(1)))
    assert order != Order("c", Decimal(2))
    assert pickle.loads(pickle.dumps(order)) == order
    assert dataclasses.replace(order, qty=Decimal(5)).qty == Decimal(5)
    assert Order.kind == "base"


def test_post_init_still_runs() -> None:
    assert Checked(1, 2).high == 2
    with pytest.raises(ValueError, match="low above high"):
        Checked(3, 2)


def test_a_default_factory_keeps_the_dataclass_init() -> None:
    first, second = WithFactory(), WithFactory()
    assert first.items == [] and first.items is not second.items
