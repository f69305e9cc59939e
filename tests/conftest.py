"""Shared fixtures. Servers in tests bind 127.0.0.1 only."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = ROOT.parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data`` beside the project root (reference data and oracles)."""
    if not SHARED_DATA.is_dir():
        pytest.skip("../shared/data is not beside the project root")
    return SHARED_DATA
