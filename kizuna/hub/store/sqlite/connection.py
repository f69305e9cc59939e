"""Connections to one SQLite hub file: one writer under a lock (``BEGIN IMMEDIATE``), a reader per thread.

WAL mode lets readers run while the writer commits; ``synchronous=FULL`` makes every commit durable (the
WAL is fsynced before ``COMMIT`` returns). Several processes may open one file: ``BEGIN IMMEDIATE`` and the
busy timeout serialise their writers.

The WAL is copied into the database file (checkpointed) by a thread of its own, once it has grown past
:data:`CHECKPOINT_BYTES`, so that no write waits for it: at 1,000,000 objects a checkpoint copies tens of MB
of index pages, and done in the commit (SQLite's default) it took a sixth of a bulk ingest's time. A
checkpoint runs beside the writer (``PASSIVE``: it copies what is committed, and neither waits for the other).
Should the WAL pass :data:`CHECKPOINT_CAP_BYTES` all the same (a writer that never pauses), the writer
checkpoints it itself after its commit, and truncates it.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from kizuna.errors import StoreError
from kizuna.hub.store.sqlite.background import Background

#: Page cache of the one writer and of each reader thread (KiB, negative as SQLite takes it): readers are
#: many (one per server thread), so theirs is small and the process's memory stays bounded.
WRITER_CACHE_KIB = 65536
READER_CACHE_KIB = 8192

#: WAL size past which the checkpointer thread copies it into the database file (and the size it is cut
#: back to once copied).
CHECKPOINT_BYTES = 64 * 2**20
#: WAL size past which the writer checkpoints it itself, after its commit.
CHECKPOINT_CAP_BYTES = 1024 * 2**20


class Connections:
    """The writer and the per-thread readers of one database file."""

    def __init__(self, path: Path, *, durable: bool = True) -> None:
        self.path = path
        self._synchronous = "FULL" if durable else "OFF"
        self._lock = threading.Lock()
        self._local = threading.local()
        self._readers: list[sqlite3.Connection] = []
        self._readers_lock = threading.Lock()
        #: Run after the current write transaction commits (under the writer lock, in commit order).
        self.after_commit: dict[str, Callable[[], None]] = {}
        self._writer_thread: int | None = None
        self._wal = Path(f"{path}-wal")
        self._checkpoints: sqlite3.Connection | None = None  # the checkpointer's connection
        self._checkpointer = Background("kizuna-checkpoint", self._checkpoint)
        self.writer = self.connect(writer=True)

    def connect(self, *, writer: bool = False) -> sqlite3.Connection:
        try:
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=30)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute(f"PRAGMA synchronous={self._synchronous}")
            conn.execute("PRAGMA foreign_keys=ON")
            conn.execute("PRAGMA busy_timeout=30000")
            conn.execute(f"PRAGMA cache_size={-(WRITER_CACHE_KIB if writer else READER_CACHE_KIB)}")
            conn.execute("PRAGMA wal_autocheckpoint=0")  # the checkpointer's work (see above)
            conn.execute(f"PRAGMA journal_size_limit={CHECKPOINT_BYTES}")
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"{self.path}: cannot open as a hub database: {exc}") from None
        return conn

    def reader(self) -> sqlite3.Connection:
        """This thread's read-only connection (opened on first use)."""
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = self.connect()
            conn.execute("PRAGMA query_only=ON")
            self._local.conn = conn
            with self._readers_lock:
                self._readers.append(conn)
        return conn

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction: committed when the block ends, rolled back if it raises."""
        with self._lock:
            conn = self.writer
            self.after_commit.clear()
            try:
                conn.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as exc:
                raise StoreError(f"{self.path}: cannot start a write: {exc}") from None
            self._writer_thread = threading.get_ident()
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                self.after_commit.clear()
                raise
            else:
                try:
                    conn.execute("COMMIT")
                except sqlite3.OperationalError as exc:
                    conn.execute("ROLLBACK")
                    self.after_commit.clear()
                    raise StoreError(f"{self.path}: the write could not be committed: {exc}") from None
                for hook in self.after_commit.values():
                    hook()
                self.after_commit.clear()
                self._after_commit_checkpoint(conn)
            finally:
                self._writer_thread = None

    def _after_commit_checkpoint(self, conn: sqlite3.Connection) -> None:
        try:
            wal = os.stat(self._wal).st_size
        except OSError:
            return
        if wal > CHECKPOINT_CAP_BYTES:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
        elif wal > CHECKPOINT_BYTES:
            self._checkpointer.poke()

    def _checkpoint(self) -> None:
        if self._checkpoints is None:
            self._checkpoints = self.connect()
        # on failure it is tried again at the next poke; past the cap the writer checkpoints itself
        with contextlib.suppress(sqlite3.Error):
            self._checkpoints.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()

    def writing(self) -> bool:
        """Whether this thread is inside a write of this process."""
        return self._writer_thread == threading.get_ident()

    def close(self) -> None:
        self._checkpointer.close()
        if self._checkpoints is not None:
            self._checkpoints.close()
        with self._readers_lock:
            for conn in self._readers:
                conn.close()
            self._readers.clear()
        self.writer.close()
