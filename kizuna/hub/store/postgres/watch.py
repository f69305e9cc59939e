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


def payload(marks: dict[int, int]) -> str:
    return orjson.dumps({str(k): v for k, v in marks.items()}).decode()


class PostgresWatcher:
    """A daemon thread listening on :data:`CHANNEL`; :meth:`close` stops it."""

    def __init__(self, dsn: str, changes: Changes) -> None:
        self.changes = changes
        self._stop = threading.Event()
        self._conn: psycopg.Connection[Any] = psycopg.connect(dsn, autocommit=True)
        self._conn.execute(f"LISTEN {CHANNEL}")
        self._thread = threading.Thread(target=self._run, name="kizuna-listen", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                for note in self._conn.notifies(timeout=0.2):
                    try:
                        marks = {int(k): int(v) for k, v in orjson.loads(note.payload).items()}
                    except (ValueError, AttributeError):
                        continue
                    self.changes.published(marks)
        except psycopg.Error:  # the database went away: stop listening
            return

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._conn.close()
