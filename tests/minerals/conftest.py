"""Fixtures for the minerals tests: the shipped data loaded once per session."""

from __future__ import annotations

import pytest

from kizuna.minerals.dataset import MineralsData
from kizuna.minerals.provenance import data_dir


@pytest.fixture(scope="session")
def data() -> MineralsData:
    """The shipped files, loaded lazily (BACI on first use) and shared by the tests of a worker."""
    return MineralsData()


@pytest.fixture(scope="session")
def usgs_lines() -> list[str]:
    """The USGS file's physical lines (cp1252, CRLF), index 0 = line 1."""
    raw = (data_dir() / "usgs_mcs2026_commodities_data.csv").read_bytes()
    return raw.decode("cp1252").split("\r\n")
