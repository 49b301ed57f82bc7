"""`pdir`: a copy of the shipped profiles in tmp_path, for the tests to edit."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.config.support import make_pdir


@pytest.fixture
def pdir(tmp_path: Path) -> Path:
    return make_pdir(tmp_path)
