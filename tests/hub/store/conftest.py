"""The store suite's one fixture: a fresh, empty hub store of each backend (SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from kizuna.hub.store.protocols import Store
from kizuna.hub.store.sqlite import SQLiteStore
from tests.hub.conftest import FrozenClock, damage_database, query_database

BACKENDS = ["sqlite", "postgres"]


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(datetime(2026, 3, 1, tzinfo=UTC))


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def make_store(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path, clock: FrozenClock
) -> Iterator[Callable[[], Store]]:
    """A factory of fresh stores of the backend (each a new hub), closed at the end."""
    made: list[Store] = []
    new_dsn = request.getfixturevalue("new_pg_dsn") if backend == "postgres" else None

    def make() -> Store:
        store: Store
        if new_dsn is not None:
            from kizuna.hub.store.postgres import PostgresStore

            store = PostgresStore.create(new_dsn(), key_file=tmp_path / f"hub{len(made)}.key", clock=clock)
        else:
            store = SQLiteStore.create(tmp_path / f"hub{len(made)}.db", durable=False, clock=clock)
        made.append(store)
        return store

    yield make
    for s in made:
        s.close()


@pytest.fixture
def store(make_store: Callable[[], Store]) -> Store:
    return make_store()


def _database(store: object) -> str:
    dsn = getattr(store, "dsn", None)
    return str(dsn) if dsn is not None else str(store.path)  # type: ignore[attr-defined]


def tamper(store: Store, sql: str) -> None:
    """Change the database behind the store's back, as someone with write access to it could."""
    damage_database(_database(store), sql)


def raw_query(store: object, sql: str, params: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
    """Read the database behind the store directly (``?`` placeholders), on either backend."""
    return query_database(_database(store), sql, params)
