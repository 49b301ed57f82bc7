"""`pdir`: copies of the fixed profiles (tests/config/fixtures: the seed's three) in tmp_path, to edit."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.config.support import make_pdir


@pytest.fixture
def pdir(tmp_path: Path) -> Path:
    return make_pdir(tmp_path)
