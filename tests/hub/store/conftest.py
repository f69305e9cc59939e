"""The store suite's one fixture: a fresh, empty hub store of each backend (today SQLite)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from kizuna.hub.store.protocols import Store
from kizuna.hub.store.sqlite import SQLiteStore
from tests.hub.conftest import FrozenClock

BACKENDS = ["sqlite"]


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(datetime(2026, 3, 1, tzinfo=UTC))


@pytest.fixture(params=BACKENDS)
def make_store(
    request: pytest.FixtureRequest, tmp_path: Path, clock: FrozenClock
) -> Iterator[Callable[[], Store]]:
    """A factory of fresh stores of the backend (each a new hub), closed at the end."""
    made: list[Store] = []

    def make() -> Store:
        store = SQLiteStore.create(tmp_path / f"hub{len(made)}.db", durable=False, clock=clock)
        made.append(store)
        return store

    yield make
    for s in made:
        s.close()


@pytest.fixture
def store(make_store: Callable[[], Store]) -> Store:
    return make_store()
