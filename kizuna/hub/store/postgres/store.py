"""The PostgreSQL store: a hub in one PostgreSQL database, for many stateless workers on many hosts.

It implements every protocol of :mod:`kizuna.hub.store.protocols` with the same query code as the SQLite
store (run through :mod:`~kizuna.hub.store.postgres.dialect`), so both backends answer every question the
same way; what differs lives here: the schema (:mod:`~kizuna.hub.store.postgres.schema`), pooled
connections and the hub-wide write lock (:mod:`~kizuna.hub.store.postgres.connection`), and change
notifications by ``LISTEN``/``NOTIFY`` (:mod:`~kizuna.hub.store.postgres.watch`).

The hub's key file (``--key-file``; the audit MACs, cursor and secret keys) and the audit checkpoint file
(beside it, ``.audit`` for ``.key``) stay outside the database, as for SQLite: whoever can write the
database alone cannot rewrite the audit chain.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar, cast

import psycopg

from kizuna.errors import Conflict, StoreError
from kizuna.hub import names
from kizuna.hub.changes import Changes
from kizuna.hub.keys import HubKeys
from kizuna.hub.store.postgres import schema
from kizuna.hub.store.postgres.connection import Connections, redact
from kizuna.hub.store.postgres.watch import CHANNEL, PostgresWatcher, payload
from kizuna.hub.store.protocols import WriteTx
from kizuna.hub.store.sqlite.audit import SQLiteAudit
from kizuna.hub.store.sqlite.directory import SQLiteDirectory
from kizuna.hub.store.sqlite.objects import SQLiteObjects, SQLiteWriteTx
from kizuna.hub.store.sqlite.peers import SQLitePeers
from kizuna.hub.store.sqlite.reads import SQLiteReads
from kizuna.hub.store.sqlite.sessions import SQLiteSessions
from kizuna.stix.ids import Clock, utc_now

T = TypeVar("T")


def is_dsn(value: str | Path) -> bool:
    """Whether a ``--db`` value names a PostgreSQL database rather than a SQLite file."""
    return str(value).startswith(("postgresql://", "postgres://"))


def checkpoint_path_for(key_file: Path) -> Path:
    """The audit checkpoint file kept beside ``key_file`` (``hub.key`` -> ``hub.audit``)."""
    name = key_file.name
    return key_file.with_name((name[:-4] if name.endswith(".key") else name) + ".audit")


def _connect(dsn: str) -> psycopg.Connection[Any]:
    try:
        return psycopg.connect(dsn, autocommit=True, connect_timeout=10)
    except psycopg.Error as exc:
        raise StoreError(f"{redact(dsn)}: cannot connect: {str(exc).strip().splitlines()[0]}") from None


class PostgresStore(SQLiteDirectory, SQLiteObjects, SQLitePeers, SQLiteAudit, SQLiteReads, SQLiteSessions):
    """A hub database in PostgreSQL (every protocol of :mod:`kizuna.hub.store.protocols`)."""

    _dialect = "postgres"  # where the reads write their SQL for PostgreSQL (``SQLiteReads._dialect``)

    def __init__(
        self, dsn: str, *, key_file: Path, clock: Clock = utc_now, keys: HubKeys | None = None
    ) -> None:
        self.dsn = dsn
        self.key_file = Path(key_file)
        self._clock = clock
        self.keys = keys if keys is not None else HubKeys.load(self.key_file)
        self._audit_key = self.keys.derive("audit")
        self._cursor_key = self.keys.derive("cursor")
        self._checkpoints = checkpoint_path_for(self.key_file)
        self._pg = Connections(dsn)
        self.path = self._pg.path  # shown in messages: the DSN without its password
        self._db = cast(Any, self._pg)  # the query code's connections, PostgreSQL's dialect
        self._changes = Changes()
        self._index_behind_writes()

    # -- lifecycle ----------------------------------------------------------------------------------
    @classmethod
    def create(
        cls,
        dsn: str,
        *,
        key_file: Path,
        title: str = "kizuna hub",
        clock: Clock = utc_now,
        keys: HubKeys | None = None,
    ) -> PostgresStore:
        """A new hub in the empty database ``dsn``, and its key file. Refuses a database that holds any
        table, and an existing key or checkpoint file."""
        title = names.title(title)
        key_file = Path(key_file)
        if keys is None and key_file.exists():
            raise Conflict(f"{key_file}: a key file already exists here; refusing to overwrite it")
        if checkpoint_path_for(key_file).exists():
            raise Conflict(f"{checkpoint_path_for(key_file)}: an audit checkpoint file already exists here")
        conn = _connect(dsn)
        try:
            try:
                empty = schema.schema_version(conn) == 0
            except StoreError:
                empty = False
            if not empty:
                raise Conflict(f"{redact(dsn)}: the database is not empty; refusing to create a hub in it")
            schema.migrate(conn)
        finally:
            conn.close()
        made_key = keys is None
        try:
            store = cls(dsn, key_file=key_file, clock=clock, keys=keys or HubKeys.create(key_file))
        except BaseException:
            if made_key:
                key_file.unlink(missing_ok=True)
            raise
        with store._pg.write() as pconn:
            wconn = cast(Any, pconn)
            wconn.executemany(
                "INSERT INTO meta (key, value) VALUES (?, ?)",
                [
                    ("title", title),
                    ("created", store._now_text()),
                    ("hub_id", str(uuid.uuid4())),
                    ("last_date_added", "0"),
                ],
            )
            store._audit(wconn, "cli", "hub.init", {"title": title})
        return store

    @classmethod
    def open(
        cls, dsn: str, *, key_file: Path, clock: Clock = utc_now, keys: HubKeys | None = None
    ) -> PostgresStore:
        """An existing hub database at the schema version of this kizuna."""
        conn = _connect(dsn)
        try:
            version = schema.schema_version(conn)
        except StoreError as exc:
            raise StoreError(f"{redact(dsn)}: {exc}") from None
        finally:
            conn.close()
        if version == 0:
            raise StoreError(f"{redact(dsn)}: no hub in this database (create one with 'kizuna hub init')")
        if version != schema.SCHEMA_VERSION:
            if version < schema.SCHEMA_VERSION:
                raise StoreError(
                    f"{redact(dsn)}: hub schema version {version} is older than this kizuna's"
                    f" ({schema.SCHEMA_VERSION}); back it up (pg_dump), then run 'kizuna hub migrate'"
                )
            raise StoreError(f"{redact(dsn)}: unsupported hub schema version {version}")
        return cls(dsn, key_file=key_file, clock=clock, keys=keys)

    @classmethod
    def migrate(cls, dsn: str) -> list[int]:
        """Bring the hub database ``dsn`` up to this kizuna's schema; returns the versions applied."""
        conn = _connect(dsn)
        try:
            if schema.schema_version(conn) == 0:
                raise StoreError(
                    f"{redact(dsn)}: no hub in this database (create one with 'kizuna hub init')"
                )
            return schema.migrate(conn)
        except psycopg.Error as exc:
            raise StoreError(f"{redact(dsn)}: migration failed: {str(exc).splitlines()[0]}") from None
        finally:
            conn.close()

    def __enter__(self) -> PostgresStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._changes.close()
        self._index_before_close()
        self._pg.close()

    # -- what differs from SQLite ---------------------------------------------------------------------
    def write(self, work: Callable[[WriteTx], T]) -> T:  # type: ignore[override]
        with self._pg.write() as conn:
            tx = SQLiteWriteTx(self, cast(Any, conn))
            out = work(tx)
            if tx._marks:  # delivered to every LISTENer at commit, in commit order
                conn.execute("SELECT pg_notify(?, ?)", (CHANNEL, payload(tx._marks)))
        self._written()
        return out

    def watch_changes(self) -> PostgresWatcher:  # type: ignore[override]
        """Publish commits made by other processes (other workers, other hosts) too; ``close()`` it."""
        return PostgresWatcher(self.dsn, self._changes)

    def table_counts(self) -> dict[str, int]:
        """Row count of every table (tests use it to prove that a refused request changed nothing)."""
        conn = self._pg.reader().raw
        tables = [
            r[0]
            for r in conn.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()"
                " ORDER BY table_name"
            )
        ]
        counts = {}
        for t in tables:
            row = conn.execute(f'SELECT COUNT(*) FROM "{t}"').fetchone()
            counts[t] = 0 if row is None else int(row[0])
        return counts
