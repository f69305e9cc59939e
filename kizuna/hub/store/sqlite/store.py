"""The SQLite store: one file holds the whole hub. Use :meth:`SQLiteStore.create` for a new hub and
:meth:`SQLiteStore.open` otherwise; :meth:`SQLiteStore.migrate` brings an older file up to date."""

from __future__ import annotations

import os
import sqlite3
import uuid
from pathlib import Path

from kizuna.errors import Conflict, NotFound, StoreError
from kizuna.hub import names
from kizuna.hub.store.sqlite import schema
from kizuna.hub.store.sqlite.audit import SQLiteAudit
from kizuna.hub.store.sqlite.connection import Connections
from kizuna.hub.store.sqlite.directory import SQLiteDirectory
from kizuna.hub.store.sqlite.objects import SQLiteObjects
from kizuna.hub.store.sqlite.peers import SQLitePeers
from kizuna.stix.ids import Clock, utc_now


class SQLiteStore(SQLiteDirectory, SQLiteObjects, SQLitePeers, SQLiteAudit):
    """A hub database in one SQLite file (every protocol of :mod:`kizuna.hub.store.protocols`)."""

    def __init__(self, path: str | Path, *, clock: Clock = utc_now, durable: bool = True) -> None:
        self.path = Path(path)
        self._clock = clock
        if not self.path.exists():
            raise NotFound(f"{self.path}: no hub database here (create one with 'kizuna hub init')")
        self._db = Connections(self.path, durable=durable)

    # -- lifecycle ----------------------------------------------------------------------------------
    @classmethod
    def create(
        cls, path: str | Path, *, title: str = "kizuna hub", clock: Clock = utc_now, durable: bool = True
    ) -> SQLiteStore:
        """A new hub database, readable by its owner only (it holds RED objects in clear).

        ``durable=False`` skips fsync (throw-away test databases only).
        """
        title = names.title(title)
        p = Path(path)
        if not p.parent.is_dir():
            raise NotFound(f"{p.parent}: directory does not exist")
        try:
            fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            raise Conflict(f"{p}: a file already exists here; refusing to overwrite it") from None
        except OSError as exc:
            raise StoreError(f"{p}: cannot create the database: {exc.strerror}") from None
        os.close(fd)
        try:
            store = cls(p, clock=clock, durable=durable)
            schema.migrate(store._db.writer)
            with store._db.write() as conn:
                conn.executemany(
                    "INSERT INTO meta (key, value) VALUES (?, ?)",
                    [
                        ("title", title),
                        ("created", store._now_text()),
                        ("hub_id", str(uuid.uuid4())),
                        ("last_date_added", "0"),
                    ],
                )
                store._audit(conn, "cli", "hub.init", {"title": title})
        except BaseException:
            p.unlink(missing_ok=True)
            raise
        return store

    @classmethod
    def open(cls, path: str | Path, *, clock: Clock = utc_now) -> SQLiteStore:
        """An existing hub database at the schema version of this kizuna."""
        store = cls(path, clock=clock)
        try:
            version = schema.schema_version(store._db.writer)
        except StoreError as exc:
            store.close()
            raise StoreError(f"{store.path}: {exc}") from None
        if version != schema.SCHEMA_VERSION:
            store.close()
            if version < schema.SCHEMA_VERSION:
                raise StoreError(
                    f"{store.path}: hub schema version {version} is older than this kizuna's"
                    f" ({schema.SCHEMA_VERSION}); back up the file, then run"
                    f" 'kizuna hub migrate --db {store.path}'"
                )
            raise StoreError(f"{store.path}: unsupported hub schema version {version}")
        return store

    @classmethod
    def migrate(cls, path: str | Path) -> list[schema.Migration]:
        """Bring the database at ``path`` up to this kizuna's schema; returns the migrations applied."""
        store = cls(path)
        try:
            return schema.migrate(store._db.writer)
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"{store.path}: migration failed: {exc}") from None
        finally:
            store.close()

    def __enter__(self) -> SQLiteStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._db.close()

    def table_counts(self) -> dict[str, int]:
        """Row count of every table (tests use it to prove that a refused request changed nothing)."""
        conn = self._db.reader()
        names = [
            r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table' ORDER BY name")
        ]
        return {n: int(conn.execute(f'SELECT COUNT(*) FROM "{n}"').fetchone()[0]) for n in names}
