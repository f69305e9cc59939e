"""Connections to one PostgreSQL hub database: a pool, one writer at a time, a reader per thread.

Writes are serialised hub-wide, as SQLite's ``BEGIN IMMEDIATE`` serialises them: each write transaction
first takes a transaction-scoped advisory lock (:data:`~kizuna.hub.store.postgres.schema.WRITE_LOCK`), so
``date_added`` is assigned in commit order across every worker and host (a reader that has been served
``date_added`` T never later sees a new row at or below T), and the audit chain's head moves one append at a
time. The lock is released by ``COMMIT``; its cost is that writes do not run in parallel (each is one
multi-row ``INSERT`` per table, a few ms for an envelope of 1,000 objects). Readers run in autocommit
mode, each statement on a fresh snapshot, under ``statement_timeout``.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg_pool import ConnectionPool

from kizuna.errors import StoreError
from kizuna.hub.store.postgres.dialect import PgConnection, PgCursor
from kizuna.hub.store.postgres.schema import WRITE_LOCK

#: Longest a statement may run (ms): a request never waits for ever on the database.
STATEMENT_TIMEOUT_MS = 30_000
#: Connections one process keeps at most (a reader per server thread, the writer, the watcher).
POOL_MAX = 48
#: Longest a request waits for a connection (s): while the database is down, requests are answered
#: ``StoreError`` (TAXII: 503) after this, not held for the pool's reconnection attempts.
POOL_WAIT_S = 5.0


def redact(dsn: str) -> str:
    """The DSN as it may be shown (its password, if any, replaced)."""
    try:
        info = psycopg.conninfo.conninfo_to_dict(dsn)
    except psycopg.ProgrammingError:
        return "postgresql://(unreadable DSN)"
    if info.get("password"):
        info["password"] = "***"
    return str(psycopg.conninfo.make_conninfo("", **info))


def _configure(conn: psycopg.Connection[Any]) -> None:
    conn.autocommit = True
    conn.execute(f"SET statement_timeout = {STATEMENT_TIMEOUT_MS}")


class ReaderConnection(PgConnection):
    """A server thread's reader. Its connection may have died while idle (the database restarted): a
    statement that fails because the connection is gone is run once more on a fresh one from the pool, so
    the first request after the database returns is answered, not 503 (reads are autocommit statements: a
    retry repeats nothing). A statement that fails on a live connection (``statement_timeout``) is not
    retried."""

    def __init__(self, conn: psycopg.Connection[Any], renew: Callable[[ReaderConnection], None]) -> None:
        super().__init__(conn)
        self._renew = renew

    def execute(self, sql: str, params: Any = ()) -> PgCursor:
        try:
            return super().execute(sql, params)
        except StoreError:
            if not self.raw.closed:
                raise
        self._renew(self)  # StoreError when no connection comes within POOL_WAIT_S
        return super().execute(sql, params)


class _ThreadReader:
    """What a thread holds of its reader: when the thread ends, its local storage (and this) goes, and the
    connection goes back to the pool (threads that come and go would otherwise use up the pool)."""

    __slots__ = ("__weakref__", "conn")

    def __init__(self, conn: ReaderConnection) -> None:
        self.conn = conn


class Connections:
    """The pooled connections of one database (the same face as the SQLite store's ``Connections``)."""

    def __init__(self, dsn: str) -> None:
        self.dsn = dsn
        self.path = redact(dsn)
        self._lock = threading.Lock()
        self._local = threading.local()
        self._held: list[psycopg.Connection[Any]] = []
        self._held_lock = threading.Lock()
        #: Run after the current write transaction commits (under the writer lock, in commit order).
        self.after_commit: dict[str, Callable[[], None]] = {}
        self._writer_thread: int | None = None
        try:
            self.pool: ConnectionPool[psycopg.Connection[Any]] = ConnectionPool(
                dsn,
                min_size=1,
                max_size=POOL_MAX,
                configure=_configure,
                # a connection that died while idle in the pool (the server restarted) is replaced
                # before it is handed out, so the process reconnects by itself
                check=ConnectionPool.check_connection,
                open=False,
                name="kizuna",
            )
            self.pool.open(wait=True, timeout=10)
        except (psycopg.Error, Exception) as exc:  # pool timeouts are not psycopg errors
            raise StoreError(f"{self.path}: cannot connect: {str(exc).splitlines()[0]}") from None

    def reader(self) -> PgConnection:
        """This thread's connection for reads (autocommit; taken from the pool on first use)."""
        holder: _ThreadReader | None = getattr(self._local, "reader", None)
        if holder is None:
            conn = ReaderConnection(self._take(), self._renew)
            holder = _ThreadReader(conn)
            weakref.finalize(holder, self._release, conn)
            self._local.reader = holder
            return conn
        conn = holder.conn
        if conn.raw.closed:  # lost with the server
            self._renew(conn)
        return conn

    def _release(self, conn: ReaderConnection) -> None:
        """A thread has ended: its reader's connection goes back to the pool (unless the store closed)."""
        raw = conn.raw
        with self._held_lock:
            if raw not in self._held:
                return
            self._held.remove(raw)
        try:
            self.pool.putconn(raw)
        except Exception:  # the pool is closing: nothing to give back to
            raw.close()

    def _take(self) -> psycopg.Connection[Any]:
        try:
            raw = self.pool.getconn(timeout=POOL_WAIT_S)
        except psycopg.OperationalError as exc:  # PoolTimeout too: the database is unreachable
            raise StoreError(f"{self.path}: no connection: {str(exc).splitlines()[0]}") from None
        with self._held_lock:
            self._held.append(raw)
        return raw

    def _renew(self, conn: ReaderConnection) -> None:
        """Give ``conn``'s dead connection back (the pool discards it) and give it a live one."""
        dead, conn.raw = conn.raw, self._take()  # _take first: if it fails, conn still holds the dead one
        with self._held_lock:
            self._held.remove(dead)
        self.pool.putconn(dead)

    @contextmanager
    def write(self) -> Iterator[PgConnection]:
        """One write transaction under the hub's write lock: committed when the block ends, rolled back if
        it raises."""
        with self._lock, self._connection() as raw:
            self.after_commit.clear()
            self._writer_thread = threading.get_ident()
            try:
                with raw.transaction():
                    raw.execute("SELECT pg_advisory_xact_lock(%s)", (WRITE_LOCK,))
                    yield PgConnection(raw)
            except psycopg.OperationalError as exc:
                self.after_commit.clear()
                raise StoreError(f"{self.path}: the write failed: {str(exc).splitlines()[0]}") from None
            except BaseException:
                self.after_commit.clear()
                raise
            finally:
                self._writer_thread = None
            for hook in self.after_commit.values():
                hook()
            self.after_commit.clear()

    def writing(self) -> bool:
        """Whether this thread is inside a write of this process."""
        return self._writer_thread == threading.get_ident()

    @contextmanager
    def _connection(self) -> Iterator[psycopg.Connection[Any]]:
        try:
            cm = self.pool.connection(timeout=POOL_WAIT_S)
            raw = cm.__enter__()
        except psycopg.OperationalError as exc:  # PoolTimeout too: the database is unreachable
            raise StoreError(f"{self.path}: no connection: {str(exc).splitlines()[0]}") from None
        try:
            yield raw
        except BaseException as exc:
            cm.__exit__(type(exc), exc, exc.__traceback__)
            raise
        cm.__exit__(None, None, None)

    def close(self) -> None:
        with self._held_lock:
            for raw in self._held:
                self.pool.putconn(raw)
            self._held.clear()
        self.pool.close()
