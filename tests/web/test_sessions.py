"""Sessions in the store: random ids kept only as hashes, fixed lifetime on an injected clock, bounded
count, shared by every app over one database and kept across a restart."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from kizuna.hub.store.sqlite import SQLiteStore
from kizuna.stix.markings import TLP
from kizuna.web.sessions import Sessions, csrf_ok
from tests.hub.conftest import FrozenClock, query_database
from tests.web.conftest import BACKENDS, new_store, pg_dsn_for


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(datetime(2026, 3, 1, tzinfo=UTC))


@pytest.fixture(params=BACKENDS)
def store(request: pytest.FixtureRequest, tmp_path: Path, clock: FrozenClock) -> Iterator[Any]:
    """A hub of each backend: sessions live in the database, whichever it is."""
    s = new_store(tmp_path, pg_dsn_for(request, str(request.param)), clock, durable=False)
    try:
        for n in range(12):
            s.add_org(f"org{n}", ceiling=TLP.AMBER)
        yield s
    finally:
        s.close()


def test_create_get_end(store: Any, clock: FrozenClock) -> None:
    sessions = Sessions(store, clock)
    s = sessions.create(1, "hash")
    got = sessions.get(s.id)
    assert got is not None and (got.org_id, got.key_id, got.csrf) == (1, "hash", s.csrf)
    assert sessions.get("other") is None and sessions.get(None) is None and sessions.get("x" * 500) is None
    assert sessions.end(s.id) is True and sessions.get(s.id) is None and sessions.end(s.id) is False


def test_ids_and_csrf_tokens_are_random_long_and_stored_only_hashed(store: Any, clock: FrozenClock) -> None:
    sessions = Sessions(store, clock)
    made = [sessions.create(1, "h") for _ in range(50)]
    assert len({s.id for s in made}) == 50 and min(len(s.id) for s in made) >= 40
    assert len({s.csrf for s in made}) == 50 and min(len(s.csrf) for s in made) >= 40
    place = getattr(store, "dsn", None) or store.path
    stored = {r[0] for r in query_database(place, "SELECT id_hash FROM ui_sessions")}
    assert stored == {hashlib.sha256(s.id.encode()).hexdigest() for s in made}
    assert not any(s.id in stored for s in made)


def test_csrf_check() -> None:
    from kizuna.web.sessions import Session

    s = Session("id", 1, "h", "token-abc", 0)
    assert csrf_ok(s, "token-abc")
    assert not csrf_ok(s, "token-abd") and not csrf_ok(s, "") and not csrf_ok(s, None)


def test_expiry_on_the_injected_clock(store: Any, clock: FrozenClock) -> None:
    sessions = Sessions(store, clock, ttl=timedelta(minutes=10))
    s = sessions.create(1, "h")
    clock.advance(599)
    assert sessions.get(s.id) is not None
    clock.advance(1)
    assert sessions.get(s.id) is None
    assert store.get_session(hashlib.sha256(s.id.encode()).hexdigest()) is None  # an expired one is ended


def test_expired_sessions_are_purged_and_count_is_bounded(store: Any, clock: FrozenClock) -> None:
    sessions = Sessions(store, clock, ttl=timedelta(seconds=10), max_sessions=3)
    first = []
    for i in range(3):
        first.append(sessions.create(i + 1, "h"))
        clock.advance(0.001)
    newest = sessions.create(9, "h")  # over the bound: the oldest goes
    assert sessions.get(first[0].id) is None and sessions.get(newest.id) is not None
    assert store.table_counts()["ui_sessions"] == 3
    clock.advance(10)
    sessions.create(10, "h")
    assert store.table_counts()["ui_sessions"] == 1


@pytest.mark.parametrize("backend", BACKENDS)
def test_sessions_survive_a_restart_and_are_shared(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path, clock: FrozenClock
) -> None:
    """Two stores over one database (two workers, or a restart): a session made by one opens in the other."""
    dsn = pg_dsn_for(request, backend)
    a = new_store(tmp_path, dsn, clock, durable=False)
    if dsn is None:
        b: Any = SQLiteStore.open(a.path, clock=clock)
    else:
        from kizuna.hub.store.postgres import PostgresStore

        b = PostgresStore.open(dsn, key_file=tmp_path / "hub.key", clock=clock)
    try:
        a.add_org("x", ceiling=TLP.GREEN)
        s = Sessions(a, clock).create(1, "h")
        assert Sessions(b, clock).get(s.id) is not None
        assert Sessions(b, clock).end(s.id)
        assert Sessions(a, clock).get(s.id) is None
    finally:
        b.close()
        a.close()


def test_bound_must_be_positive(store: Any, clock: FrozenClock) -> None:
    with pytest.raises(ValueError):
        Sessions(store, clock, max_sessions=0)
