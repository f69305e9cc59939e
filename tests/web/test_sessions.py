"""Sessions in the store: random ids kept only as hashes, fixed lifetime on an injected clock, bounded
count, shared by every app over one database and kept across a restart."""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from kizuna.hub.store.sqlite import SQLiteStore
from kizuna.stix.markings import TLP
from kizuna.web.sessions import Sessions, csrf_ok
from tests.hub.conftest import FrozenClock


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(datetime(2026, 3, 1, tzinfo=UTC))


@pytest.fixture
def store(tmp_path: Path, clock: FrozenClock) -> Iterator[SQLiteStore]:
    with SQLiteStore.create(tmp_path / "hub.db", durable=False, clock=clock) as s:
        for n in range(12):
            s.add_org(f"org{n}", ceiling=TLP.AMBER)
        yield s


def test_create_get_end(store: SQLiteStore, clock: FrozenClock) -> None:
    sessions = Sessions(store, clock)
    s = sessions.create(1, "hash")
    got = sessions.get(s.id)
    assert got is not None and (got.org_id, got.key_id, got.csrf) == (1, "hash", s.csrf)
    assert sessions.get("other") is None and sessions.get(None) is None and sessions.get("x" * 500) is None
    assert sessions.end(s.id) is True and sessions.get(s.id) is None and sessions.end(s.id) is False


def test_ids_and_csrf_tokens_are_random_long_and_stored_only_hashed(
    store: SQLiteStore, clock: FrozenClock
) -> None:
    sessions = Sessions(store, clock)
    made = [sessions.create(1, "h") for _ in range(50)]
    assert len({s.id for s in made}) == 50 and min(len(s.id) for s in made) >= 40
    assert len({s.csrf for s in made}) == 50 and min(len(s.csrf) for s in made) >= 40
    conn = sqlite3.connect(store.path)
    stored = {r[0] for r in conn.execute("SELECT id_hash FROM ui_sessions")}
    conn.close()
    assert stored == {hashlib.sha256(s.id.encode()).hexdigest() for s in made}
    assert not any(s.id in stored for s in made)


def test_csrf_check() -> None:
    from kizuna.web.sessions import Session

    s = Session("id", 1, "h", "token-abc", 0)
    assert csrf_ok(s, "token-abc")
    assert not csrf_ok(s, "token-abd") and not csrf_ok(s, "") and not csrf_ok(s, None)


def test_expiry_on_the_injected_clock(store: SQLiteStore, clock: FrozenClock) -> None:
    sessions = Sessions(store, clock, ttl=timedelta(minutes=10))
    s = sessions.create(1, "h")
    clock.advance(599)
    assert sessions.get(s.id) is not None
    clock.advance(1)
    assert sessions.get(s.id) is None
    assert store.get_session(hashlib.sha256(s.id.encode()).hexdigest()) is None  # an expired one is ended


def test_expired_sessions_are_purged_and_count_is_bounded(store: SQLiteStore, clock: FrozenClock) -> None:
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


def test_sessions_survive_a_restart_and_are_shared(tmp_path: Path, clock: FrozenClock) -> None:
    """Two stores over one file (two workers, or a restart): a session made by one opens in the other."""
    path = tmp_path / "hub.db"
    with SQLiteStore.create(path, durable=False, clock=clock) as a:
        a.add_org("x", ceiling=TLP.GREEN)
        s = Sessions(a, clock).create(1, "h")
        with SQLiteStore.open(path, clock=clock) as b:
            assert Sessions(b, clock).get(s.id) is not None
            assert Sessions(b, clock).end(s.id)
        assert Sessions(a, clock).get(s.id) is None


def test_bound_must_be_positive(store: SQLiteStore, clock: FrozenClock) -> None:
    with pytest.raises(ValueError):
        Sessions(store, clock, max_sessions=0)
