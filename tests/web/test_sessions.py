"""In-memory sessions: random ids, fixed lifetime on an injected clock, bounded count."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from kizuna.web.sessions import Sessions
from tests.hub.conftest import FrozenClock


def clock() -> FrozenClock:
    return FrozenClock(datetime(2026, 3, 1, tzinfo=UTC))


def test_create_get_end() -> None:
    sessions = Sessions(clock())
    s = sessions.create(7, "hash")
    assert sessions.get(s.id) == s
    assert sessions.get("other") is None and sessions.get(None) is None
    assert sessions.end(s.id) is True and sessions.get(s.id) is None and sessions.end(s.id) is False


def test_ids_are_random_and_long() -> None:
    sessions = Sessions(clock())
    ids = {sessions.create(1, "h").id for _ in range(200)}
    assert len(ids) == 200 and min(len(i) for i in ids) >= 40


def test_expiry_on_the_injected_clock() -> None:
    c = clock()
    sessions = Sessions(c, ttl=timedelta(minutes=10))
    s = sessions.create(1, "h")
    c.advance(599)
    assert sessions.get(s.id) is not None
    c.advance(1)
    assert sessions.get(s.id) is None and len(sessions) == 0


def test_expired_sessions_are_purged_and_count_is_bounded() -> None:
    c = clock()
    sessions = Sessions(c, ttl=timedelta(seconds=10), max_sessions=3)
    first = [sessions.create(i, "h") for i in range(3)]
    newest = sessions.create(9, "h")  # over the bound: the oldest goes
    assert sessions.get(first[0].id) is None and sessions.get(newest.id) is not None
    assert len(sessions) == 3
    c.advance(10)
    sessions.create(10, "h")
    assert len(sessions) == 1


def test_bound_must_be_positive() -> None:
    with pytest.raises(ValueError):
        Sessions(clock(), max_sessions=0)
