"""Fixtures for the space tests: catalogues small enough for CI."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from kizuna.space.catalog import CatalogObject, read_catalog
from kizuna.space.synthetic import synthetic_catalog

DATA = Path(__file__).resolve().parents[2] / "kizuna" / "data" / "space"
EPOCH = datetime(2026, 1, 1, tzinfo=UTC)

#: A crowded mix: the populated LEO shells only, so a 100-object catalogue has many close approaches.
CROWDED = {"constellation_550": 0.3, "debris_800": 0.4, "sso": 0.3}


@pytest.fixture(scope="session")
def iridium_cosmos() -> list[CatalogObject]:
    return read_catalog(DATA / "iridium33_cosmos2251.tle").objects


@pytest.fixture(scope="session")
def crowded_catalog() -> list[CatalogObject]:
    return synthetic_catalog(90, epoch=EPOCH, seed=11, mix=CROWDED)
