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
``INSERT`` into a table with a generated key gains ``RETURNING`` so that ``lastrowid`` works; ``x IN
(?,?,...)`` of :data:`IN_ARRAY_FROM` values or more (the write path's look-ups of an envelope's ids) ->
``x = ANY(?)`` with the values passed as one array, one parameter to parse and plan instead of a thousand
(a shorter list stays as it is, so that the planner still sees each value).

Rows written by ``executemany`` go in one statement that handles no placeholder per value (a 1,000-object
envelope's ``objects`` rows were 17,000 of them, parsed by psycopg and planned by PostgreSQL): a binary
``COPY`` where rows are only added, else one ``INSERT ... SELECT ... FROM unnest(...)`` with one binary
array per column (``ON CONFLICT`` as written); the column types come from the catalog. Any other
statement (one row, or a row holding more than placeholders) goes through psycopg's ``executemany``.
"""

from __future__ import annotations

import functools
import re
import sqlite3
import weakref
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, NamedTuple

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
#: A list of placeholders after ``IN`` (``NOT IN`` too), and the length from which it goes as one array.
_IN_LIST = re.compile(r"\b(NOT\s+)?IN\s*\((\?(?:\s*,\s*\?)+)\)", re.I)
IN_ARRAY_FROM = 32
#: ``INSERT INTO t (columns) VALUES (row) rest`` as :func:`translate` writes it.
_INSERT_ROW = re.compile(r"^\s*INSERT INTO (\w+) \(([^)]*)\)\s*VALUES\s*\(([^()]*)\)(.*)$", re.S)
_ROW_ITEM = re.compile(r"^%s(::\w+)?$")
#: Column types sent in binary as they are (the types of the hub's schema); any other goes as ``text``
#: and is cast by PostgreSQL (``tsvector``).
_BINARY_TYPES = frozenset({"bigint", "text", "bytea", "double precision"})
_SCALAR_MAX = re.compile(r"\bmax\((\w+\.)?(\w+), excluded\.\2\)")
_MATCH = "SELECT rowid FROM search WHERE search MATCH ?"
#: The one statement that puts text into the full-text index (its second parameter the text).
_INDEX_TEXT = "INSERT INTO search (rowid, body) VALUES (?,?)"


def translate(sql: str) -> tuple[str, int | None, bool, bool]:
    """``(postgres_sql, index of the FTS5 parameter or None, returns_key, indexes_text)`` for one
    statement (``indexes_text``: its rows' second parameter is text to turn into a ``tsvector``)."""
    text, fts, returns_key, indexes_text, _lists = _translate(sql)
    return text, fts, returns_key, indexes_text


#: Where the values of each ``IN`` list rewritten to ``= ANY(?)`` sit among a statement's parameters:
#: ``(index of the first, count)``, in order.
Lists = tuple[tuple[int, int], ...]


@functools.lru_cache(maxsize=4096)
def _translate(sql: str) -> tuple[str, int | None, bool, bool, Lists]:
    fts: int | None = None
    if _MATCH in sql:
        fts = sql[: sql.index(_MATCH)].count("?")
        sql = sql.replace(_MATCH, "SELECT rowid FROM search WHERE tsv @@ ?::tsquery")
    lists: list[tuple[int, int]] = []

    def one_array(m: re.Match[str]) -> str:
        count = m.group(2).count("?")
        if count < IN_ARRAY_FROM:  # a short list stays as written: the planner sees each value
            return m.group(0)
        lists.append((sql[: m.start()].count("?"), count))
        return "<> ALL(?)" if m.group(1) else "= ANY(?)"

    sql = _IN_LIST.sub(one_array, sql)
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
    return sql, fts, returns_key, indexes_text, tuple(lists)


def _pack(args: list[object], lists: Lists) -> list[object]:
    """``args`` with the values of each rewritten ``IN`` list gathered into one list (an array)."""
    if not lists:
        return args
    out: list[object] = []
    at = 0
    for start, count in lists:
        out.extend(args[at:start])
        out.append(args[start : start + count])
        at = start + count
    out.extend(args[at:])
    return out


#: Column types per table, per connection (read from the catalog once; the schema is the same for the
#: life of a connection: migrations run on connections of their own).
_COLUMN_TYPES: weakref.WeakKeyDictionary[psycopg.Connection[Any], dict[str, dict[str, str]]] = (
    weakref.WeakKeyDictionary()
)


def _column_types(conn: psycopg.Connection[Any], table: str) -> dict[str, str]:
    tables = _COLUMN_TYPES.setdefault(conn, {})
    found = tables.get(table)
    if found is None:
        rows = conn.execute(
            "SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute"
            " WHERE attrelid = %s::regclass AND attnum > 0 AND NOT attisdropped",
            [table],
        ).fetchall()
        found = tables[table] = {str(name): str(kind) for name, kind in rows}
    return found


class Bulk(NamedTuple):
    """The multi-row forms of a one-row ``INSERT``."""

    sql: str  #: the ``INSERT ... SELECT ... FROM unnest(...)``, one array per column
    kinds: list[str]  #: the columns' types
    copy: str | None  #: the ``COPY`` that writes the same rows, where the statement only adds rows


def _bulk(conn: psycopg.Connection[Any], text: str) -> Bulk | None:
    """The multi-row forms of the one-row ``INSERT`` ``text``; None when its row holds anything but
    placeholders. ``copy`` is None where the statement has an ``ON CONFLICT`` or a column that does not go
    in binary."""
    m = _INSERT_ROW.match(text)
    if m is None:
        return None
    table, columns, row, rest = m.group(1), [c.strip() for c in m.group(2).split(",")], m.group(3), m.group(4)
    items = [i.strip() for i in row.split(",")]
    if len(items) != len(columns) or not all(_ROW_ITEM.match(i) for i in items):
        return None
    types = _column_types(conn, table)
    if not all(c in types for c in columns):
        return None
    kinds = [types[c] for c in columns]
    sent = [k if k in _BINARY_TYPES else "text" for k in kinds]
    names = [f"c{i}" for i in range(len(columns))]
    select = ", ".join(
        f"_u.{n}" if s == k else f"_u.{n}::{k}" for n, s, k in zip(names, sent, kinds, strict=True)
    )
    arrays = ", ".join(f"%b::{s}[]" for s in sent)
    sql = (
        f"INSERT INTO {table} ({', '.join(columns)}) SELECT {select}"
        f" FROM unnest({arrays}) AS _u({', '.join(names)}){rest}"
    )
    copy = None
    if not rest.strip() and sent == kinds:
        copy = f"COPY {table} ({', '.join(columns)}) FROM STDIN (FORMAT BINARY)"
    return Bulk(sql, kinds, copy)


def _as_kind(values: list[object], kind: str) -> list[object]:
    """One column's values for an array of ``kind``: numbers as the type the array holds (psycopg types a
    list by its values, and would refuse ints and floats mixed)."""
    if kind == "double precision":
        return [None if v is None else float(v) for v in values]  # type: ignore[arg-type]
    return values


def fts5_to_tsquery(expr: str) -> str:
    """An FTS5 expression as :func:`kizuna.hub.index.fts_query` writes it, as a ``tsquery`` literal
    (:func:`kizuna.hub.store.postgres.fulltext.tsquery`)."""
    return fulltext.tsquery(expr)


def _params(values: Iterable[object]) -> list[object]:
    """Parameters as psycopg is to send them: a ``bool`` as the integer SQLite stores."""
    return [int(v) if v.__class__ is bool else v for v in values]


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


class PgConnection:
    """A psycopg connection with the face of the ``sqlite3.Connection`` the query code uses."""

    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self.raw = conn

    def execute(self, sql: str, params: Sequence[object] | Iterable[object] = ()) -> PgCursor:
        text, fts, returns_key, indexes_text, lists = _translate(sql)
        args = _params(params)
        if fts is not None:
            args[fts] = fts5_to_tsquery(str(args[fts]))
        if indexes_text:
            args[1] = fulltext.tsvector(str(args[1]))
        cur = self.raw.cursor()
        try:
            cur.execute(text, _pack(args, lists))
        except psycopg.errors.IntegrityError as exc:
            raise _integrity(exc) from None
        except psycopg.OperationalError as exc:
            raise _unavailable(exc) from None
        if returns_key:
            row = cur.fetchone()
            return PgCursor(cur, None if row is None else int(row[0]))
        return PgCursor(cur)

    def executemany(self, sql: str, rows: Iterable[Sequence[object]]) -> PgCursor:
        text, _fts, returns_key, indexes_text, lists = _translate(sql)
        batch = [_pack(_params(r), lists) for r in rows]
        if indexes_text:
            batch = [[r[0], fulltext.tsvector(str(r[1]))] for r in batch]
        cur = self.raw.cursor()
        if not batch:
            return PgCursor(cur)
        if returns_key:
            text = text[: text.rindex(" RETURNING ")]
        try:
            bulk = None if len(batch) == 1 else _bulk(self.raw, text)
            if bulk is not None and bulk.copy is not None:  # rows that are only added
                with cur.copy(bulk.copy) as copy:
                    copy.set_types(bulk.kinds)
                    for r in batch:
                        copy.write_row(r)
            elif bulk is not None:  # one statement, one array per column
                columns = [list(c) for c in zip(*batch, strict=True)]
                cur.execute(bulk.sql, [_as_kind(c, k) for c, k in zip(columns, bulk.kinds, strict=True)])
            else:  # one row, or a statement that is no plain INSERT of placeholders
                cur.executemany(text, batch)
        except psycopg.errors.IntegrityError as exc:
            raise _integrity(exc) from None
        except psycopg.OperationalError as exc:
            raise _unavailable(exc) from None
        return PgCursor(cur)
