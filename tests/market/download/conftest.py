"""Fixtures for the download tests: the fake archive and fake fapi (on 127.0.0.1) for the whole module,
reset to no faults and no recorded requests before each test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.market.download.stand_ins import StandIns, serve_stand_ins


@pytest.fixture(scope="module")
def served(shared_data: Path, mainnet_exchange_info: Path) -> Iterator[StandIns]:
    with serve_stand_ins(shared_data, mainnet_exchange_info) as stand_ins:
        yield stand_ins


@pytest.fixture
def fakes(served: StandIns) -> StandIns:
    served.reset()
    return served
