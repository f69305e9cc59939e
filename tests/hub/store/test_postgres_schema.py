"""The PostgreSQL store's own parts: one ordered list of schema versions for both backends, the dialect
rewrites, and a hub refusing a database that is not its own."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest

from kizuna.errors import Conflict, StoreError
from kizuna.hub.index import fts_query
from kizuna.hub.store.postgres import PostgresStore, schema
from kizuna.hub.store.postgres.connection import redact
from kizuna.hub.store.postgres.dialect import fts5_to_tsquery, translate
from kizuna.hub.store.sqlite.schema import MIGRATIONS


def test_every_schema_version_has_its_postgres_twin() -> None:
    assert sorted(schema.DDL) == [m.version for m in MIGRATIONS]
    assert MIGRATIONS[-1].version == schema.SCHEMA_VERSION


@pytest.mark.parametrize(
    ("sqlite", "postgres"),
    [
        ("SELECT a FROM t WHERE 0 AND b = ?", "SELECT a FROM t WHERE FALSE AND b = %s"),
        ("SELECT 1 FROM t WHERE (a = 1 OR 0) LIMIT ?", "SELECT 1 FROM t WHERE (a = 1 OR FALSE) LIMIT %s"),
        (
            "SELECT a FROM t WHERE b LIKE 'peer:%' AND c IS ?",
            "SELECT a FROM t WHERE b LIKE 'peer:%%' AND c IS NOT DISTINCT FROM %s",
        ),
        (
            "INSERT OR IGNORE INTO owners (a, b) VALUES (?,?)",
            "INSERT INTO owners (a, b) VALUES (%s,%s) ON CONFLICT DO NOTHING",
        ),
        (
            "INSERT OR REPLACE INTO flags (object_added, revoked) VALUES (?,?)",
            "INSERT INTO flags (object_added, revoked) VALUES (%s,%s)"
            " ON CONFLICT (object_added) DO UPDATE SET revoked = excluded.revoked",
        ),
        ("INSERT INTO orgs (name) VALUES (?)", "INSERT INTO orgs (name) VALUES (%s) RETURNING id"),
        ("SELECT 1 FROM a CROSS JOIN b ON b.x = a.x", "SELECT 1 FROM a JOIN b ON b.x = a.x"),
    ],
)
def test_dialect_rewrites(sqlite: str, postgres: str) -> None:
    assert translate(sqlite)[0] == postgres


def test_full_text_queries_keep_prefixes_and_phrases() -> None:
    expr = fts_query("Evil Corp")
    assert expr is not None
    assert fts5_to_tsquery(expr) == "'evil':* & 'corp':*"
    assert fts5_to_tsquery('"two words"') == "('two' <-> 'words')"


def test_a_password_never_shows() -> None:
    assert "s3cret" not in redact("postgresql://u:s3cret@db.example/kizuna")
    assert "s3cret" not in redact("host=db password=s3cret dbname=kizuna")


def test_init_refuses_a_database_that_is_not_empty(new_pg_dsn: Callable[[], str], tmp_path: Path) -> None:
    dsn = new_pg_dsn()
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("CREATE TABLE payroll (x int)")
    with pytest.raises(Conflict, match="not empty"):
        PostgresStore.create(dsn, key_file=tmp_path / "a.key")
    assert not (tmp_path / "a.key").exists()
    with pytest.raises(StoreError, match="not a kizuna hub"):
        PostgresStore.open(dsn, key_file=tmp_path / "a.key")


def test_migrate_is_idempotent_and_init_refuses_a_hub(new_pg_dsn: Callable[[], str], tmp_path: Path) -> None:
    dsn = new_pg_dsn()
    with pytest.raises(StoreError, match="no hub"):
        PostgresStore.migrate(dsn)
    PostgresStore.create(dsn, key_file=tmp_path / "a.key").close()
    assert PostgresStore.migrate(dsn) == []
    with pytest.raises(Conflict, match="not empty"):
        PostgresStore.create(dsn, key_file=tmp_path / "b.key")
    with PostgresStore.open(dsn, key_file=tmp_path / "a.key") as store:
        assert store.verify_audit().ok
