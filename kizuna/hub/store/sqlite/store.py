"""The SQLite store: one file holds the whole hub. Use :meth:`SQLiteStore.create` for a new hub and
:meth:`SQLiteStore.open` otherwise; :meth:`SQLiteStore.migrate` brings an older file up to date."""

from __future__ import annotations

import os
import sqlite3
import uuid
from pathlib import Path

from kizuna.errors import Conflict, NotFound, StoreError
from kizuna.hub import names
from kizuna.hub.changes import Changes
from kizuna.hub.keys import HubKeys, key_path
from kizuna.hub.store.sqlite import schema
from kizuna.hub.store.sqlite.audit import SQLiteAudit
from kizuna.hub.store.sqlite.connection import Connections
from kizuna.hub.store.sqlite.directory import SQLiteDirectory
from kizuna.hub.store.sqlite.objects import SQLiteObjects
from kizuna.hub.store.sqlite.peers import SQLitePeers
from kizuna.hub.store.sqlite.reads import SQLiteReads
from kizuna.hub.store.sqlite.sessions import SQLiteSessions
from kizuna.stix.ids import Clock, utc_now


def checkpoint_path(db_path: str | os.PathLike[str]) -> Path:
    """The audit checkpoint file of the database at ``db_path`` (keep it on append-only storage)."""
    return Path(f"{os.fspath(db_path)}.audit")


class SQLiteStore(SQLiteDirectory, SQLiteObjects, SQLitePeers, SQLiteAudit, SQLiteReads, SQLiteSessions):
    """A hub database in one SQLite file (every protocol of :mod:`kizuna.hub.store.protocols`)."""

    def __init__(
        self, path: str | Path, *, clock: Clock = utc_now, durable: bool = True, keys: HubKeys | None = None
    ) -> None:
        self.path = Path(path)
        self._clock = clock
        if not self.path.exists():
            raise NotFound(f"{self.path}: no hub database here (create one with 'kizuna hub init')")
        self.keys = keys if keys is not None else HubKeys.load(key_path(self.path))
        self._audit_key = self.keys.derive("audit")
        self._cursor_key = self.keys.derive("cursor")
        self._checkpoints = checkpoint_path(self.path)
        self._db = Connections(self.path, durable=durable)
        self._changes = Changes()
        self._index_behind_writes()

    # -- lifecycle ----------------------------------------------------------------------------------
    @classmethod
    def create(
        cls,
        path: str | Path,
        *,
        title: str = "kizuna hub",
        clock: Clock = utc_now,
        durable: bool = True,
        keys: HubKeys | None = None,
    ) -> SQLiteStore:
        """A new hub database and its key file ``<path>.key``, both readable by their owner only (the
        database holds RED objects in clear). Refuses to overwrite either.

        ``durable=False`` skips fsync (throw-away test databases only).
        """
        title = names.title(title)
        p = Path(path)
        if not p.parent.is_dir():
            raise NotFound(f"{p.parent}: directory does not exist")
        if keys is None and key_path(p).exists():
            raise Conflict(f"{key_path(p)}: a key file already exists here; refusing to overwrite it")
        if checkpoint_path(p).exists():
            raise Conflict(f"{checkpoint_path(p)}: an audit checkpoint file already exists here")
        try:
            fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            raise Conflict(f"{p}: a file already exists here; refusing to overwrite it") from None
        except OSError as exc:
            raise StoreError(f"{p}: cannot create the database: {exc.strerror}") from None
        os.close(fd)
        made_key = keys is None
        try:
            store = cls(p, clock=clock, durable=durable, keys=keys or HubKeys.create(key_path(p)))
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
            if made_key:
                key_path(p).unlink(missing_ok=True)
            checkpoint_path(p).unlink(missing_ok=True)
            raise
        return store

    @classmethod
    def open(cls, path: str | Path, *, clock: Clock = utc_now, keys: HubKeys | None = None) -> SQLiteStore:
        """An existing hub database at the schema version of this kizuna (its key file beside it)."""
        p = Path(path)
        if not p.exists():
            raise NotFound(f"{p}: no hub database here (create one with 'kizuna hub init')")
        probe = Connections(p)
        try:
            version = schema.schema_version(probe.writer)
        except StoreError as exc:
            raise StoreError(f"{p}: {exc}") from None
        finally:
            probe.close()
        if version != schema.SCHEMA_VERSION:
            if version < schema.SCHEMA_VERSION:
                raise StoreError(
                    f"{p}: hub schema version {version} is older than this kizuna's"
                    f" ({schema.SCHEMA_VERSION}); back up the file, then run"
                    f" 'kizuna hub migrate --db {p}'"
                )
            raise StoreError(f"{p}: unsupported hub schema version {version}")
        return cls(p, clock=clock, keys=keys)

    @classmethod
    def migrate(cls, path: str | Path, *, keys: HubKeys | None = None) -> list[schema.Migration]:
        """Bring the database at ``path`` up to this kizuna's schema; returns the migrations applied."""
        store = cls(path, keys=keys)
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
        self._changes.close()
        self._index_before_close()
        self._db.close()

    def table_counts(self) -> dict[str, int]:
        """Row count of every table (tests use it to prove that a refused request changed nothing)."""
        conn = self._db.reader()
        names = [
            r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table' ORDER BY name")
        ]
        return {n: int(conn.execute(f'SELECT COUNT(*) FROM "{n}"').fetchone()[0]) for n in names}
