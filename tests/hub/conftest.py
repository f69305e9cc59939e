"""In-process hub fixtures: a real SQLite file, the real ASGI app, Starlette's test client."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from kizuna.hub.app import create_app
from kizuna.hub.auth import hash_token, new_token
from kizuna.hub.settings import HubSettings
from kizuna.hub.store.sqlite import SQLiteStore
from kizuna.hub.taxii.errors import TAXII_MEDIA_TYPE
from kizuna.stix.markings import TLP

ORGS = {
    # name: (ceiling, peer_hub)
    "producer": (TLP.RED, False),
    "reader": (TLP.AMBER, False),
    "green-reader": (TLP.GREEN, False),
    "strict-reader": (TLP.AMBER_STRICT, False),
    "recipient": (TLP.RED, False),
    "peer": (TLP.RED, True),
    "outsider": (TLP.RED, False),
    "write-only": (TLP.RED, False),
}


class FrozenClock:
    """A clock tests move by hand (injected; nothing is patched)."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@dataclass
class Hub:
    store: SQLiteStore
    client: TestClient
    tokens: dict[str, str]
    collection_id: str
    db_path: Path
    clock: FrozenClock
    settings: HubSettings
    extra: dict[str, Any] = field(default_factory=dict)

    def headers(self, org: str, **more: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[org]}", "Accept": TAXII_MEDIA_TYPE, **more}

    def url(self, path: str = "") -> str:
        return f"/api/collections/{self.collection_id}/{path}"

    def post(self, org: str, objects: list[dict[str, Any]], collection_id: str | None = None) -> Any:
        import orjson

        cid = collection_id or self.collection_id
        return self.client.post(
            f"/api/collections/{cid}/objects/",
            content=orjson.dumps({"objects": objects}),
            headers=self.headers(org, **{"Content-Type": TAXII_MEDIA_TYPE}),
        )


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[Hub]:
    yield from build_hub(tmp_path)


BACKENDS = ["sqlite", "postgres"]


def hub_on(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Hub]:
    """The in-process hub on the backend ``request.param`` names (a module's ``hub`` fixture, parametrised
    with :data:`BACKENDS`, runs its tests on both: PostgreSQL gives each hub a schema of the module's
    database, made from the session cluster's template)."""
    dsn = request.getfixturevalue("new_pg_dsn")() if request.param == "postgres" else None
    yield from build_hub(tmp_path, dsn)


@contextmanager
def database_connection(db: str | Path, *, read_only: bool = True) -> Iterator[Any]:
    """A connection to the database behind a hub, beside it (``db``: its SQLite file or its DSN), with
    ``sqlite3``'s face (``?`` placeholders; on PostgreSQL the store's own dialect adapter, autocommit)."""
    from kizuna.hub.store.postgres.store import is_dsn

    if is_dsn(db):
        import psycopg

        from kizuna.hub.store.postgres.dialect import PgConnection

        with psycopg.connect(str(db), autocommit=True) as raw:
            yield PgConnection(raw)
        return
    import sqlite3

    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True) if read_only else sqlite3.connect(db)
    try:
        yield conn
    finally:
        conn.close()


def query_database(db: str | Path, sql: str, params: tuple[object, ...] = ()) -> list[tuple[Any, ...]]:
    """Rows of a query (``?`` placeholders) on the database behind a hub (its SQLite file or DSN)."""
    with database_connection(db) as conn:
        return [tuple(r) for r in conn.execute(sql, params).fetchall()]


def damage_database(db: str | Path, script: str) -> None:
    """Run SQL statements (``;``-separated, no parameters) on the database behind a hub (its SQLite file or
    DSN), as its owner could."""
    from kizuna.hub.store.postgres.store import is_dsn

    if is_dsn(db):
        import psycopg

        with psycopg.connect(str(db), autocommit=True) as conn:
            conn.execute(script.encode())
        return
    with database_connection(db, read_only=False) as conn2:
        conn2.executescript(script)


@dataclass(frozen=True)
class Place:
    """Where a hub that the CLI makes lives: its ``--db`` value (a SQLite file, or a DSN naming a new schema)
    and the environment its commands and server need (``KIZUNA_KEY_FILE`` on PostgreSQL)."""

    db: str
    env: dict[str, str]
    postgres: bool

    @property
    def key_file(self) -> Path | None:
        return Path(self.env["KIZUNA_KEY_FILE"]) if self.postgres else None

    def create(self, **options: Any) -> Any:
        """A new hub's store here (``options``: ``title``, ``clock``)."""
        if self.postgres:
            from kizuna.hub.store.postgres import PostgresStore

            return PostgresStore.create(self.db, key_file=Path(self.env["KIZUNA_KEY_FILE"]), **options)
        return SQLiteStore.create(Path(self.db), durable=False, **options)

    def open(self) -> Any:
        """The hub's store, opened as an administrator's command would."""
        if self.postgres:
            from kizuna.hub.store.postgres import PostgresStore

            return PostgresStore.open(self.db, key_file=Path(self.env["KIZUNA_KEY_FILE"]))
        return SQLiteStore.open(Path(self.db))

    @contextmanager
    def connect(self) -> Iterator[Any]:
        """A read connection to the database itself, beside the hub (see :func:`database_connection`)."""
        with database_connection(self.db) as conn:
            yield conn

    def rows(self, sql: str, params: tuple[object, ...] = ()) -> list[tuple[Any, ...]]:
        """Rows of a query (``?`` placeholders) on the database itself."""
        return query_database(self.db, sql, params)

    def damage(self, script: str) -> None:
        """Run SQL statements (``;``-separated, no parameters) on the database, as its owner could."""
        damage_database(self.db, script)

    def dump(self) -> bytes:
        """What the database holds: the SQLite file's bytes, or every row of every table of the hub's
        PostgreSQL schema as text (what a dump of it would hold)."""
        if not self.postgres:
            return Path(self.db).read_bytes()
        out: list[str] = []
        with self.connect() as conn:
            tables = conn.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()"
            ).fetchall()
            assert len(tables) > 10, tables
            for (table,) in tables:
                for row in conn.execute(f'SELECT * FROM "{table}"'):
                    out.append(repr(tuple(bytes(v) if isinstance(v, memoryview) else v for v in row)))
        return "\n".join(out).encode()


def new_place(request: pytest.FixtureRequest, backend: str, directory: Path, name: str = "hub") -> Place:
    """A fresh place for a hub on ``backend``: ``directory/NAME.db``, or a new schema of the test module's
    PostgreSQL database with its key file at ``directory/NAME.key`` (works from module-scoped fixtures)."""
    if backend == "postgres":
        cluster = request.getfixturevalue("pg_cluster")
        dsn = cluster.schema_dsn(request.getfixturevalue("pg_database"))
        return Place(dsn, {"KIZUNA_KEY_FILE": str(directory / f"{name}.key")}, True)
    return Place(str(directory / f"{name}.db"), {}, False)


def build_hub(tmp_path: Path, dsn: str | None = None) -> Iterator[Hub]:
    """The in-process hub, on SQLite or (given ``dsn``, a fresh place) on PostgreSQL."""
    clock = FrozenClock(datetime(2026, 2, 1, 9, 0, 0, tzinfo=UTC))
    db = tmp_path / "hub.db"
    store: Any
    if dsn is not None:
        from kizuna.hub.store.postgres import PostgresStore

        store = PostgresStore.create(dsn, title="test hub", clock=clock, key_file=tmp_path / "hub.key")
    else:
        store = SQLiteStore.create(db, title="test hub", clock=clock)
    tokens = {}
    for name, (ceiling, peer) in ORGS.items():
        store.add_org(name, ceiling=ceiling, peer_hub=peer)
        tokens[name] = new_token()
        store.add_token(name, hash_token(tokens[name]))
    readers = [n for n in ORGS if n not in ("outsider", "write-only")]
    c = store.add_collection(
        "shared", alias="shared", readers=readers, writers=["producer", "write-only"], default_tlp=TLP.AMBER
    )
    settings = HubSettings(title="test hub", max_content_length=1_000_000)
    app = create_app(settings, store, clock=clock)
    with TestClient(app, base_url="http://127.0.0.1") as client:
        yield Hub(store, client, tokens, c.id, db, clock, settings)
    store.close()


def indicator(
    value: str = "198.51.100.1",
    *,
    tlp_ref: str | None = None,
    modified: str | None = None,
    created: str = "2026-01-01T00:00:00.000Z",
    oid: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "type": "indicator",
        "spec_version": "2.1",
        "id": oid or f"indicator--{uuid.uuid4()}",
        "created": created,
        "modified": modified or created,
        "pattern": f"[ipv4-addr:value = '{value}']",
        "pattern_type": "stix",
        "valid_from": created,
    }
    if tlp_ref:
        obj["object_marking_refs"] = [tlp_ref]
    obj.update(extra)
    return obj


@pytest.fixture
def hubs() -> Iterator[dict[str, Any]]:
    """Hubs under test by name (``test_federation.HubUnderTest``); each is stopped at the end."""
    made: dict[str, Any] = {}
    yield made
    for hub in made.values():
        hub.stop()
    for name, hub in made.items():  # a server's unexpected error, shown with the test's output
        log = None if getattr(hub, "key_file", None) is None else hub.key_file.with_suffix(".log")
        if log is not None and log.exists() and "unexpected" in (text := log.read_text(errors="replace")):
            print(f"--- hub {name}: {log}\n{text[-6000:]}")
