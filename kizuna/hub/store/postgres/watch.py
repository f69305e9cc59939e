"""Commits by other processes on one PostgreSQL hub database, published to this process's
:class:`~kizuna.hub.changes.Changes`: every write transaction that stores versions runs ``NOTIFY`` on
:data:`CHANNEL` with the highest ``date_added`` it gave per collection (delivered at commit, in commit
order), and one ``LISTEN`` connection per process publishes what it hears. A notification is only a hint to
read again; a lost one delays an event, never changes what a reader sees."""

from __future__ import annotations

import threading
from typing import Any

import orjson
import psycopg

from kizuna.hub.changes import Changes

CHANNEL = "kizuna_changes"
#: Pause between attempts to listen again after the database went away (s).
RETRY_S = 1.0


def payload(marks: dict[int, int]) -> str:
    return orjson.dumps({str(k): v for k, v in marks.items()}).decode()


class PostgresWatcher:
    """A daemon thread listening on :data:`CHANNEL`; :meth:`close` stops it."""

    def __init__(self, dsn: str, changes: Changes) -> None:
        self.changes = changes
        self._dsn = dsn
        self._stop = threading.Event()
        self._conn: psycopg.Connection[Any] | None = self._listen()
        self._thread = threading.Thread(target=self._run, name="kizuna-listen", daemon=True)
        self._thread.start()

    def _listen(self) -> psycopg.Connection[Any]:
        conn = psycopg.connect(self._dsn, autocommit=True, connect_timeout=5)
        conn.execute(f"LISTEN {CHANNEL}")
        return conn

    def _run(self) -> None:
        while not self._stop.is_set():
            conn = self._conn
            try:
                if conn is None or conn.closed:  # the database went away: listen again once it is back
                    if conn is not None:
                        conn.close()
                    self._conn = conn = self._listen()
                for note in conn.notifies(timeout=0.2):
                    try:
                        marks = {int(k): int(v) for k, v in orjson.loads(note.payload).items()}
                    except (ValueError, AttributeError):
                        continue
                    self.changes.published(marks)
            except psycopg.Error:
                if self._conn is not None and not self._conn.closed:
                    self._conn.close()
                self._stop.wait(RETRY_S)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        if self._conn is not None:
            self._conn.close()
