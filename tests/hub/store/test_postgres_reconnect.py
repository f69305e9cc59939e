"""A server thread's idle reader connection that died (the database restarted, or an administrator ended
its backend) is replaced when next used: the request that finds it dead is answered, not 503."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest

from kizuna.errors import StoreError
from kizuna.hub.store.postgres import PostgresStore
from kizuna.hub.store.postgres.connection import STATEMENT_TIMEOUT_MS


def _end_backend(dsn: str, pid: int) -> None:
    with psycopg.connect(dsn, autocommit=True) as admin:
        row = admin.execute("SELECT pg_terminate_backend(%s)", (pid,)).fetchone()
    assert row is not None and row[0] is True


def test_a_dead_idle_reader_is_replaced_on_next_use(new_pg_dsn: Callable[[], str], tmp_path: Path) -> None:
    dsn = new_pg_dsn()
    with PostgresStore.create(dsn, key_file=tmp_path / "hub.key", title="reconnect") as store:
        assert store.title() == "reconnect"
        reader = store._pg.reader()
        first = reader.raw.info.backend_pid
        _end_backend(dsn, first)
        assert store.title() == "reconnect"  # the statement failed on the dead connection, ran again
        assert store._pg.reader().raw.info.backend_pid != first
        second = store._pg.reader().raw.info.backend_pid
        _end_backend(dsn, second)
        assert [c.alias for c in store.list_collections()] == []  # and again, on another query
        # the dead connections went back to the pool (which discards them): none is still held
        assert all(not raw.closed for raw in store._pg._held)


def test_a_statement_that_fails_on_a_live_connection_is_not_run_again(
    new_pg_dsn: Callable[[], str], tmp_path: Path
) -> None:
    dsn = new_pg_dsn()
    with PostgresStore.create(dsn, key_file=tmp_path / "hub.key") as store:
        reader = store._pg.reader()
        reader.raw.execute("SET statement_timeout = 50")
        try:
            with pytest.raises(StoreError):
                reader.execute("SELECT pg_sleep(?)", (1.5,))
            assert not reader.raw.closed
            assert reader.raw.info.backend_pid == store._pg.reader().raw.info.backend_pid
        finally:
            reader.raw.execute(f"SET statement_timeout = {STATEMENT_TIMEOUT_MS}")


def test_threads_that_come_and_go_give_their_readers_back(
    new_pg_dsn: Callable[[], str], tmp_path: Path
) -> None:
    """A thread's reader goes back to the pool when the thread ends: more short-lived threads than the pool
    holds connections each read, and none waits (a test client, a thread per request, does this)."""
    import threading
    import time

    from kizuna.hub.store.postgres.connection import POOL_MAX

    dsn = new_pg_dsn()
    with PostgresStore.create(dsn, key_file=tmp_path / "hub.key", title="threads") as store:
        titles: list[str] = []
        started = time.monotonic()
        for _ in range(POOL_MAX + 12):
            t = threading.Thread(target=lambda: titles.append(store.title()))
            t.start()
            t.join()
        assert titles == ["threads"] * (POOL_MAX + 12)
        assert time.monotonic() - started < 30  # a thread that had to wait for a connection waits 5 s
        assert len(store._pg._held) <= 2  # the main thread's, and the last one's until it is collected
