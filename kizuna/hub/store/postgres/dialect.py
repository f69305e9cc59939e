"""The SQL the store's query code is written in, run on PostgreSQL.

The store's reads and writes (``kizuna/hub/store/sqlite/*``) are written once, in the small common subset
of SQL both engines run, with SQLite's spellings for the few things that differ. :func:`translate` rewrites
those spellings for PostgreSQL once per statement text (cached), and :class:`PgConnection` gives a psycopg
connection the DB-API face the query code uses (``execute``, ``executemany``, ``lastrowid``), raising
:class:`sqlite3.IntegrityError` for a constraint violation as the query code expects. What the query code
cannot share (the schema, full-text search, ``date_added`` assignment, change notifications) the
PostgreSQL store does itself.

Rewrites: ``?`` -> ``%s`` (a literal ``%`` doubled); ``INSERT OR IGNORE`` -> ``ON CONFLICT DO NOTHING``;
``INSERT OR REPLACE`` -> ``ON CONFLICT (key) DO UPDATE`` (the tables' keys below); ``CROSS JOIN t ON`` (a
join order hint for SQLite) -> ``JOIN t ON``; ``0``/``1`` standing alone as a condition -> ``FALSE``/``TRUE``;
``CAST(x AS INTEGER)`` -> ``BIGINT``; FTS5's ``search MATCH ?`` -> a ``tsquery`` match and the text put into
``search`` -> its ``tsvector``, both over FTS5's own tokens (:mod:`~kizuna.hub.store.postgres.fulltext`); an
``INSERT`` into a table with a generated key gains ``RETURNING`` so that ``lastrowid`` works.
"""

from __future__ import annotations

import functools
import re
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import psycopg

from kizuna.errors import StoreError
from kizuna.hub.store.postgres import fulltext

#: Tables whose key the database generates, and that key (``cursor.lastrowid`` after an INSERT).
GENERATED_KEYS = {
    "orgs": "id",
    "collections": "key",
    "peers": "id",
    "flows": "id",
    "ingest_units": "id",
    "auth_failures": "id",
}

#: The conflict target of ``INSERT OR REPLACE`` per table.
REPLACE_KEYS = {"sightings": "object_added", "conjunctions": "object_added", "flags": "object_added"}

_INSERT = re.compile(r"^\s*INSERT\s+(OR\s+(IGNORE|REPLACE)\s+)?INTO\s+(\w+)\s*(\(([^)]*)\))?", re.I | re.S)
_BOOL = re.compile(
    r"(\b(?:WHERE|AND|OR|NOT)\s+|\()\s*([01])(?=\s*\)|\s+AND\b|\s+OR\b|\s+ORDER\b|\s+LIMIT\b|\s+GROUP\b|\s*$)"
)
_VALUES = re.compile(r"\bVALUES\s*(\([^()]*\))", re.I)
#: Parameters in one statement (PostgreSQL's limit is 65,535).
MAX_PARAMS = 32_000
_SCALAR_MAX = re.compile(r"\bmax\((\w+\.)?(\w+), excluded\.\2\)")
_MATCH = "SELECT rowid FROM search WHERE search MATCH ?"
#: The one statement that puts text into the full-text index (its second parameter the text).
_INDEX_TEXT = "INSERT INTO search (rowid, body) VALUES (?,?)"


@functools.lru_cache(maxsize=4096)
def translate(sql: str) -> tuple[str, int | None, bool, bool]:
    """``(postgres_sql, index of the FTS5 parameter or None, returns_key, indexes_text)`` for one
    statement (``indexes_text``: its rows' second parameter is text to turn into a ``tsvector``)."""
    fts: int | None = None
    if _MATCH in sql:
        fts = sql[: sql.index(_MATCH)].count("?")
        sql = sql.replace(_MATCH, "SELECT rowid FROM search WHERE tsv @@ ?::tsquery")
    indexes_text = sql.strip() == _INDEX_TEXT
    if indexes_text:
        sql = "INSERT INTO search (rowid, tsv) VALUES (?,?::tsvector)"
    returns_key = False
    m = _INSERT.match(sql)
    if m:
        mode, table, columns = (m.group(2) or "").upper(), m.group(3), m.group(5)
        sql = (
            sql[: m.start()] + f"INSERT INTO {table}" + (f" ({columns})" if columns else "") + sql[m.end() :]
        )
        if mode == "IGNORE":
            sql += " ON CONFLICT DO NOTHING"
        elif mode == "REPLACE":
            key = REPLACE_KEYS[table]
            cols = [c.strip() for c in (columns or "").split(",") if c.strip() and c.strip() != key]
            sql += f" ON CONFLICT ({key}) DO UPDATE SET " + ", ".join(f"{c} = excluded.{c}" for c in cols)
        elif table in GENERATED_KEYS and "RETURNING" not in sql.upper() and "SELECT" not in sql.upper():
            sql += f" RETURNING {GENERATED_KEYS[table]}"
            returns_key = True
    sql = _SCALAR_MAX.sub(r"GREATEST(\1\2, excluded.\2)", sql)
    sql = sql.replace(" IS ?", " IS NOT DISTINCT FROM ?")
    sql = sql.replace("CROSS JOIN", "JOIN").replace("url, user,", 'url, "user",')
    sql = re.sub(r"AS INTEGER\)", "AS BIGINT)", sql)
    sql = _BOOL.sub(lambda b: b.group(1) + ("TRUE" if b.group(2) == "1" else "FALSE"), sql)
    sql = sql.replace("%", "%%").replace("?", "%s")
    return sql, fts, returns_key, indexes_text


def fts5_to_tsquery(expr: str) -> str:
    """An FTS5 expression as :func:`kizuna.hub.index.fts_query` writes it, as a ``tsquery`` literal
    (:func:`kizuna.hub.store.postgres.fulltext.tsquery`)."""
    return fulltext.tsquery(expr)


def _param(value: object) -> object:
    return int(value) if isinstance(value, bool) else value


class PgCursor:
    """The DB-API cursor face the query code uses over a psycopg cursor."""

    def __init__(self, cur: psycopg.Cursor[Any], lastrowid: int | None = None) -> None:
        self._cur = cur
        self.lastrowid = lastrowid

    @property
    def rowcount(self) -> int:
        return int(self._cur.rowcount)

    def close(self) -> None:
        self._cur.close()

    def fetchone(self) -> Any:
        return self._cur.fetchone() if self._cur.description is not None else None

    def fetchall(self) -> list[Any]:
        return self._cur.fetchall() if self._cur.description is not None else []

    def __iter__(self) -> Iterator[Any]:
        if self._cur.description is None:
            return iter(())
        return iter(self._cur)


def _integrity(exc: psycopg.errors.IntegrityError) -> sqlite3.IntegrityError:
    return sqlite3.IntegrityError(str(exc).splitlines()[0])


def _unavailable(exc: psycopg.OperationalError) -> StoreError:
    """The server went away, restarts, or cancelled the statement (``statement_timeout``): the library's
    storage error (TAXII: 503 with an error body), never a driver exception."""
    return StoreError(f"the database failed: {(str(exc).strip().splitlines() or [type(exc).__name__])[0]}")


def _numbered_rows(row: str, count: int) -> str:
    """``count`` copies of the VALUES row ``row`` (``%s`` placeholders), joined by commas, with its
    placeholders numbered ``$1``, ``$2``... in order (PostgreSQL's own form)."""
    parts = row.split("%s")
    out: list[str] = []
    n = 0
    for _ in range(count):
        out.append(parts[0])
        for part in parts[1:]:
            n += 1
            out.append(f"${n}")
            out.append(part)
        out.append(",")
    return "".join(out[:-1])


class PgConnection:
    """A psycopg connection with the face of the ``sqlite3.Connection`` the query code uses."""

    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self.raw = conn

    def execute(self, sql: str, params: Sequence[object] | Iterable[object] = ()) -> PgCursor:
        text, fts, returns_key, indexes_text = translate(sql)
        args = [_param(p) for p in params]
        if fts is not None:
            args[fts] = fts5_to_tsquery(str(args[fts]))
        if indexes_text:
            args[1] = fulltext.tsvector(str(args[1]))
        cur = self.raw.cursor()
        try:
            cur.execute(text, args)
        except psycopg.errors.IntegrityError as exc:
            raise _integrity(exc) from None
        except psycopg.OperationalError as exc:
            raise _unavailable(exc) from None
        if returns_key:
            row = cur.fetchone()
            return PgCursor(cur, None if row is None else int(row[0]))
        return PgCursor(cur)

    def executemany(self, sql: str, rows: Iterable[Sequence[object]]) -> PgCursor:
        text, _fts, returns_key, indexes_text = translate(sql)
        batch = [[_param(p) for p in r] for r in rows]
        if indexes_text:
            batch = [[r[0], fulltext.tsvector(str(r[1]))] for r in batch]
        cur = self.raw.cursor()
        if not batch:
            return PgCursor(cur)
        if returns_key:
            text = text[: text.rindex(" RETURNING ")]
        values = _VALUES.search(text)
        try:
            if values is None or len(batch) == 1:
                cur.executemany(text, batch)
            else:  # one multi-row INSERT per chunk of rows
                head, row, tail = text[: values.start(1)], values.group(1), text[values.end(1) :]
                per = max(1, MAX_PARAMS // max(1, len(batch[0])))
                numbered = "%" not in head + tail and "%%" not in row
                raw = psycopg.RawCursor(self.raw) if numbered else cur
                for i in range(0, len(batch), per):
                    chunk = batch[i : i + per]
                    params = [p for r in chunk for p in r]
                    if numbered:  # psycopg parses no query text (and caches no long one)
                        raw.execute(head + _numbered_rows(row, len(chunk)) + tail, params)
                    else:
                        cur.execute(head + ",".join([row] * len(chunk)) + tail, params)
        except psycopg.errors.IntegrityError as exc:
            raise _integrity(exc) from None
        except psycopg.OperationalError as exc:
            raise _unavailable(exc) from None
        return PgCursor(cur)
